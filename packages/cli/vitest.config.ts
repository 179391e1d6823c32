import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// The tests spawn the CLI and npm: slow, and they share two cores with everyone.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
