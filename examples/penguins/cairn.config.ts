import { defineConfig } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { inProcess, localStore } from '@cairn/runtime';

/**
 * The project's stack. Artifacts are content-addressed files under .cairn/;
 * runs, lineage, the cache index and the model registry live in one SQLite
 * file beside them. `--env ci` runs one step at a time in the CLI's process
 * and reads conf/ci/ over conf/base/.
 */
export default defineConfig({
  stack: {
    storage: localStore({ dir: '.cairn/artifacts' }),
    metadata: sqliteMetadata({ file: '.cairn/metadata.db' }),
    executor: inProcess(),
  },
  env: {
    ci: { executor: inProcess() },
  },
  defaultPipeline: 'training',
});
