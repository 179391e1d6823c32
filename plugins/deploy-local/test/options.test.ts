import { describe, expect, it } from 'vitest';
import localDeployerDefault, { localDeployer } from '../src/index';

describe('localDeployer options', () => {
  it('returns a serializable descriptor', () => {
    const descriptor = localDeployer({ port: 9000 });
    expect(descriptor).toMatchObject({ kind: 'deployer', name: 'local', options: { port: 9000 } });
    expect(JSON.parse(JSON.stringify(descriptor))).toEqual({
      kind: 'deployer',
      name: 'local',
      options: { port: 9000 },
    });
    expect(localDeployerDefault).toBe(localDeployer);
  });

  it.each([
    [{ port: -1 }, 'port'],
    [{ port: 70000 }, 'port'],
    [{ port: 80.5 }, 'port'],
    [{ host: '' }, 'host'],
    [{ serve: 'yes' }, 'serve'],
    [{ maxBodyBytes: 0 }, 'maxBodyBytes'],
    [{ latencyWindow: 1.5 }, 'latencyWindow'],
    [{ followIntervalMs: 0 }, 'followIntervalMs'],
    [{ followIntervalMs: 5 }, 'followIntervalMs'],
    [{ followIntervalMs: 100.5 }, 'followIntervalMs'],
    [{ followIntervalMs: '250' }, 'followIntervalMs'],
    [{ bogus: true }, 'bogus'],
  ])('refuses %j naming the option', (options, option) => {
    expect(() => localDeployer(options as never)).toThrowError(
      expect.objectContaining({
        code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
        message: expect.stringContaining(option),
      }),
    );
  });

  it('names a refused NaN or Infinity as such, not as null', () => {
    expect(() => localDeployer({ predictionLog: { sample: Number.NaN } })).toThrowError(/got NaN$/);
    expect(() => localDeployer({ port: Number.POSITIVE_INFINITY })).toThrowError(/got Infinity$/);
    expect(() => localDeployer({ maxRows: 0 })).toThrowError(/got 0$/);
  });
});
