import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../vitest.shared.ts';

// The smoke test starts every benchmark at its smallest size: minutes of I/O on a busy 2-core machine.
export default mergeConfig(shared, defineConfig({ test: { include: ['*.test.ts'] } }));
