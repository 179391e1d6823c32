import { describe, expect, it } from 'vitest';
import { json } from './artifacts/builtin';
import { ErrorCodes } from './errors';
import { type AnyStep, SERVICE_SLOTS, type ServiceUse, servicesUsed, step } from './step';

const outputs = { out: json<number>() };

describe('uses: the services a step borrows from the run', () => {
  it('parses names and the optional `?` form, each service once', () => {
    expect(servicesUsed({ uses: ['registry', 'deployer', 'abtest?'] })).toEqual([
      { service: 'registry', optional: false },
      { service: 'deployer', optional: false },
      { service: 'abtest', optional: true },
    ]);
    // Named both ways, the required form wins: the run must have it.
    expect(servicesUsed({ uses: ['abtest?', 'abtest'] })).toEqual([{ service: 'abtest', optional: false }]);
    expect(servicesUsed({})).toEqual([]);
  });

  it('refuses an unknown service where the step is defined, naming the known ones', () => {
    let caught: unknown;
    try {
      step({ name: 'typo', outputs, uses: ['deployr' as ServiceUse], run: () => ({ out: 1 }) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: ErrorCodes.STEP_INVALID });
    expect((caught as Error).message).toContain('"deployr"');
    for (const known of Object.keys(SERVICE_SLOTS)) expect((caught as Error).message).toContain(known);
  });

  it('maps every service to a stack slot', () => {
    expect(SERVICE_SLOTS).toEqual({ registry: 'metadata', deployer: 'deployer', abtest: 'abtest' });
  });
});

describe('where a step was defined', () => {
  it('records the module that called step(), for the code fingerprint', () => {
    const defined = step({ name: 'here', outputs, run: () => ({ out: 1 }) });
    expect((defined as unknown as AnyStep).modules?.[0]).toMatch(/step\.test\.ts$/);
  });
});
