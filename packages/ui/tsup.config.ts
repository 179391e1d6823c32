import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// layout-worker.ts is the entry of the layout thread, loaded by path at run time.
export default defineConfig({ ...base, entry: ['src/index.ts', 'src/layout-worker.ts'] });
