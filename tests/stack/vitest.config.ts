import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// The real servers, started by the plugins' own harnesses: radosgw (S3) and PostgreSQL on 127.0.0.1.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      globalSetup: [
        '../../plugins/storage-s3/test/server.ts',
        '../../plugins/metadata-postgres/test/global-setup.ts',
      ],
    },
  }),
);
