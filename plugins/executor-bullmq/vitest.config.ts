import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// One redis-server for the whole run; each test file uses queues of its own.
export default mergeConfig(
  shared,
  defineConfig({
    test: { globalSetup: ['test/global-setup.ts'] },
  }),
);
