import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// commands.ts is oclif's explicit command target; index.ts the library entry.
export default defineConfig({ ...base, entry: ['src/index.ts', 'src/commands.ts'] });
