import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// worker.ts is the entry of worker-pool threads, loaded by path at run time.
export default defineConfig({
  ...base,
  entry: ['src/index.ts', 'src/plugin-kit.ts', 'src/executors/worker.ts'],
});
