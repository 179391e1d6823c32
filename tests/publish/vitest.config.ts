import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// One file that spawns npm, the registry and the built CLI: no parallel files. Each test sets its own
// generous backstop timeout (a hung child), never a bound on how fast the machine is.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
