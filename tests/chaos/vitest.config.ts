import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// The campaign spawns `cairn` many times and the fault tests restart real servers: one file at a time.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
