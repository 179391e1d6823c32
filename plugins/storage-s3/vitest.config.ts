import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// One radosgw cluster for the whole run (≈13 s to start), shared by every test file.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      globalSetup: ['test/server.ts'],
      // s3.test.ts stops the gateway on purpose; no other file may be mid-request then.
      fileParallelism: false,
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  }),
);
