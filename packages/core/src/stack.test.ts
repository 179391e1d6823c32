import { memoryStore } from '@cairn/testkit';
import { describe, expect, it } from 'vitest';
import { defineConfig, stackFor } from './stack';

describe('defineConfig', () => {
  it('takes a deployer and an abtest engine in their slots, and serving loaders', () => {
    const deployer = { kind: 'deployer', name: 'x', options: {}, create: () => ({}) as never } as const;
    const abtest = { kind: 'abtest', name: 'y', options: {}, create: () => ({}) as never } as const;
    const config = defineConfig({
      stack: { deployer },
      env: { team: { abtest } },
      serving: { loaders: { 'ml-random-forest': () => ({ predict: (rows) => [...rows] }) } },
    });
    expect(stackFor(config, 'team')).toMatchObject({ deployer, abtest });
  });

  it('names every wrong slot, kind and loader at once', () => {
    let message = '';
    try {
      defineConfig({
        stack: { deployer: memoryStore() as never, monitor: {} as never } as never,
        serving: { loaders: { onnx: 'not a function' as never } },
      });
    } catch (error) {
      expect((error as { code: string }).code).toBe('CAIRN_STACK_INVALID');
      message = (error as Error).message;
    }
    expect(message).toMatch(/stack\.deployer: expected a deployer plugin, got a storage plugin/);
    expect(message).toMatch(
      /stack\.monitor: unknown plugin slot \(expected storage, metadata, executor, deployer, abtest\)/,
    );
    expect(message).toMatch(/serving\.loaders\.onnx: expected a function/);
  });
});
