import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// ports.ts is its own entry: server harnesses (vitest globalSetup) import it without the suites.
export default defineConfig({ ...base, entry: ['src/index.ts', 'src/ports.ts'] });
