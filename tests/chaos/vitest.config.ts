import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// The campaign spawns `cairn` many times and the fault tests restart real servers: one file at a
// time. radosgw (S3, with its bucket) comes from the storage plugin's harness; the fault tests
// start PostgreSQL and Redis themselves, since they restart them.
export default mergeConfig(
  shared,
  defineConfig({
    test: { fileParallelism: false, globalSetup: ['../../plugins/storage-s3/test/server.ts'] },
  }),
);
