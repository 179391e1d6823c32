import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

// commands.ts is oclif's explicit command target; index.ts the library entry;
// oclif.ts what bin/run.js starts the built CLI with. @oclif/core and its
// dependencies are bundled into a chunk those entries share (splitting), so a
// start reads one file rather than ~180 CommonJS modules. Their CommonJS code
// calls require(): the banner gives ESM output a real one. typescript is only
// required by oclif's TypeScript path lookup, which the built CLI never takes.
export default defineConfig({
  ...base,
  entry: ['src/index.ts', 'src/commands.ts', 'src/oclif.ts'],
  splitting: true,
  noExternal: [/^@oclif\/core(\/|$)/],
  external: ['typescript'],
  banner: {
    js: "import { createRequire as __cairnCreateRequire } from 'node:module';\nconst require = __cairnCreateRequire(import.meta.url);",
  },
});
