import localAbtest from '@cairn/abtest-local';
import { defineConfig } from '@cairn/core';
import { inProcess, localStore, workerPool } from '@cairn/runtime';
import localDeployer from '@cairn/deploy-local';
import sqliteMetadata from '@cairn/metadata-sqlite';

/**
 * The project's stack: where artifacts are stored, where runs and lineage
 * are recorded, and where steps execute. `env` entries override it per
 * environment (`cairn run --env ci`).
 */
export default defineConfig({
  stack: {
    // Artifacts: content-addressed files under .cairn/ (ignored by git).
    storage: localStore({ dir: '.cairn/artifacts' }),
    // Runs, lineage, the cache index and the model registry.
    metadata: sqliteMetadata({ file: '.cairn/metadata.db' }),
    // Independent steps run in parallel worker threads.
    executor: workerPool(),
    // Where the deploy step puts the production model: a local HTTP model server
    // (`npx cairn serve` answers on this port; runs only change what it serves).
    deployer: localDeployer({ port: 8080 }),
    // A/B experiments in .cairn/abtest.db: each canary is judged by its units' outcomes.
    abtest: localAbtest(),
  },
  env: {
    // CI (`npm run ci`): the same stores, one step at a time in one process; conf/ci/ overrides step configs.
    ci: { executor: inProcess() },
  },
  // How a model bundle is served, by its flavor: the same code as the tests use
  // (src/predict.ts), imported only when a model is loaded.
  serving: {
    loaders: {
      'ml-random-forest': async (bundle) => (await import('./src/predict')).modelFromBundle(bundle),
    },
  },
  defaultPipeline: 'training',
});
