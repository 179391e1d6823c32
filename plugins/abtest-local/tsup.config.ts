import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// better-sqlite3 is a native module: it loads from the user's node_modules, never bundled.
export default defineConfig({ ...base, external: ['better-sqlite3'] });
