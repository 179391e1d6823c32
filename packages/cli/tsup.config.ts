import { dirname, relative } from 'node:path';
import type { Plugin, PluginBuild } from 'esbuild';
import { defineConfig } from 'tsup';
import { base } from '../../tsup.base';

/**
 * An esbuild plugin that bundles `specifier` (when `from` matches its importer)
 * as a module of its own made by `contents(realPath)`, which requires the real
 * module by path. Modules are named by their relative path, as esbuild names the others.
 */
function wrapModule(
  name: string,
  specifier: RegExp,
  from: RegExp,
  contents: (real: string) => string,
): Plugin {
  return {
    name,
    setup(build: PluginBuild) {
      build.onResolve({ filter: specifier }, async (args) => {
        if (args.pluginData === name || !from.test(args.importer)) return undefined;
        const real = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: name,
        });
        if (real.errors.length > 0) return { errors: real.errors };
        return { path: relative(process.cwd(), real.path), namespace: name, pluginData: real.path };
      });
      build.onLoad({ filter: /./, namespace: name }, (args) => ({
        contents: contents(JSON.stringify(args.pluginData)),
        resolveDir: dirname(args.pluginData),
        loader: 'js',
      }));
    },
  };
}

// oclif's help measures every word it wraps with string-width, which runs an ANSI
// regex and a large emoji regex over it: most of what rendering `cairn --help`
// costs. A string made only of these characters (printable ASCII, Latin-1, Greek,
// dashes, quotes, ellipsis, arrows, minus: none an escape, emoji, combining or
// wide character) is exactly as wide as it is long, so that is answered first;
// any other string still goes to string-width itself.
export const WIDTH_ONE = /^[\x20-\x7e\xa0-\xff\u0370-\u03ff\u2010-\u2027\u2030-\u205e\u2190-\u2199\u2212]*$/;
const narrowStringWidth = wrapModule(
  'narrow-string-width',
  /^string-width$/,
  /./,
  (real) => `const stringWidth = require(${real});
module.exports = (text) => (typeof text === 'string' && ${WIDTH_ONE}.test(text) ? text.length : (stringWidth.default ?? stringWidth)(text));`,
);

// @oclif/core requires, as it loads, two libraries that only some CLIs use:
// tinyglobby finds command files by pattern (cairn lists its commands), minimatch
// filters plugin dependencies by pattern (cairn has none). Each is a stand-in that
// loads the library on first use; oclif uses them only as `module.name(...)`.
const lazyGlobs = wrapModule(
  'lazy-globs',
  /^(tinyglobby|minimatch)$/,
  /[\\/]@oclif[\\/]core[\\/]/,
  (real) => `let loaded;
const load = () => (loaded ??= require(${real}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Object.getOwnPropertyDescriptor(load(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
});`,
);

// commands.ts is oclif's explicit command target; index.ts the library entry;
// oclif.ts what bin/run.js starts the built CLI with, and oclif's helpClass. @oclif/core and its
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
  esbuildPlugins: [narrowStringWidth, lazyGlobs],
  banner: {
    js: "import { createRequire as __cairnCreateRequire } from 'node:module';\nconst require = __cairnCreateRequire(import.meta.url);",
  },
});
