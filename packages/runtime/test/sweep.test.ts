import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CairnEvent, ErrorCodes, type MetadataStore, type StorageDriver } from '@cairn/core';
import { localStore, parseSweeps, type RunOptions, runSweep, sweepGrid } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { numbers } from './fixtures/steps';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-sweep-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(
  extra: Partial<RunOptions> = {},
): RunOptions & { overrides: string[]; events: CairnEvent[] } {
  const events: CairnEvent[] = [];
  return {
    storage,
    metadata,
    projectDir: dir,
    onEvent: (e: CairnEvent) => events.push(e),
    events,
    overrides: [],
    ...extra,
  } as never;
}

describe('sweeps', () => {
  it('parses axes and builds the grid, the first axis varying slowest', () => {
    const axes = parseSweeps(['train.trees=100,300', 'train.features=[a,b],[c]']);
    expect(axes).toEqual([
      { key: 'train.trees', values: ['100', '300'] },
      { key: 'train.features', values: ['[a,b]', '[c]'] },
    ]);
    expect(sweepGrid(axes)).toEqual([
      { 'train.trees': '100', 'train.features': '[a,b]' },
      { 'train.trees': '100', 'train.features': '[c]' },
      { 'train.trees': '300', 'train.features': '[a,b]' },
      { 'train.trees': '300', 'train.features': '[c]' },
    ]);
  });

  it('runs every combination, tagged with one sweep id, executing a shared upstream step once', async () => {
    const run = options({ configs: { source: { n: 3 } } });
    const sweep = await runSweep(numbers, run, ['power.exponent=1,2,3', 'other.label=a,b']);
    expect(sweep.runs).toHaveLength(6);
    expect(sweep.runs.every((r) => r.result.status === 'succeeded')).toBe(true);
    const executedSource = run.events.filter((e) => e.type === 'step.succeeded' && e.step === 'source');
    expect(executedSource).toHaveLength(1);
    // power runs once per exponent; total likewise (its input changes with the exponent).
    const executedPower = run.events.filter((e) => e.type === 'step.succeeded' && e.step === 'power');
    expect(executedPower).toHaveLength(3);
    const records = await metadata.listRuns();
    expect(records).toHaveLength(6);
    expect(new Set(records.map((r) => r.tags?.sweep))).toEqual(new Set([sweep.sweepId]));
    expect(records.map((r) => r.tags?.params).sort()).toContain('power.exponent=3 other.label=b');
    // The swept value reached the steps: one distinct total per exponent, the same for both labels.
    const totals = (exponent: string) =>
      new Set(
        sweep.runs
          .filter((r) => r.params['power.exponent'] === exponent)
          .map((r) => r.result.steps.total!.outputs.metrics!.digest),
      );
    expect([totals('1').size, totals('2').size, totals('3').size]).toEqual([1, 1, 1]);
    expect(new Set([...totals('1'), ...totals('2'), ...totals('3')]).size).toBe(3);
  });

  it('refuses an unknown key, a wrong type, an unknown step or a malformed flag before any run', async () => {
    const refuse = (flags: string[], extra: Partial<RunOptions> = {}) =>
      runSweep(numbers, options({ configs: { source: { n: 3 } }, ...extra }), flags).catch((e) => e);
    const wrongType = await refuse(['power.exponent=2,three']);
    expect(wrongType).toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
    expect(wrongType.message).toMatch(/exponent/);
    expect(await refuse(['power.exponnt=2,3'])).toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
    expect(await refuse(['powr.exponent=2,3'])).toMatchObject({ code: ErrorCodes.CONFIG_OVERRIDE_INVALID });
    expect(await refuse(['power.exponent'])).toMatchObject({ code: ErrorCodes.USAGE });
    expect(await refuse(['power.exponent=2,,3'])).toMatchObject({ code: ErrorCodes.USAGE });
    expect(await refuse(['power.exponent=2,3'], { overrides: ['power.exponent=4'] } as never)).toMatchObject({
      code: ErrorCodes.USAGE,
    });
    expect(await metadata.listRuns()).toEqual([]);
  });
});
