import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// One long test that spawns npm, the registry and the built CLI: no parallel files, generous timeouts.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
