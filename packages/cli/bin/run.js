#!/usr/bin/env node
// The `cairn` binary. Runs the built commands (dist/, with oclif.manifest.json
// for a fast --help). In a monorepo checkout with no build — `bin/dev.js`, or a
// project made with `cairn new --link` — it runs the TypeScript sources
// instead: it adds the `@cairn/source` export condition and tsx's loader.
import { existsSync, readFileSync } from 'node:fs';
import module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

// Node >= 22.1 keeps compiled code on disk between starts (absent on Node 20: then a no-op).
module.enableCompileCache?.();

const source = new URL('../src/commands.ts', import.meta.url);
const built = existsSync(new URL('../dist/commands.js', import.meta.url));
// The @cairn/source condition (a `cairn new --link` project's .npmrc sets it) means "this
// checkout's TypeScript sources": the CLI follows it too, so a stale dist/ is never run there.
const conditionActive = /@cairn\/source/.test(
  `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`,
);
const fromSource = existsSync(source) && (globalThis.__cairnFromSource === true || !built || conditionActive);
const sourceCondition = fromSource || conditionActive;

// The built CLI's root help, kept from the last time it was printed for the same build, terminal
// and environment (bin/help-cache.js), is printed without loading oclif.
// The arguments that print the root help; any other command loads nothing more for it.
const args = process.argv.slice(2);
let helpCache;
if (!fromSource && (args.length === 0 || (args.length === 1 && args[0] === '--help'))) {
  const { rootHelpCache } = await import('./help-cache.js');
  helpCache = rootHelpCache(args);
}
if (helpCache?.text !== undefined) process.stdout.write(helpCache.text);
else await start();

async function start() {
  if (fromSource) {
    // Resolve workspace packages to their TypeScript sources, as tests and tsc do.
    const hook = `export async function resolve(specifier, context, next) {
      const conditions = context.conditions.includes('@cairn/source') ? context.conditions : [...context.conditions, '@cairn/source'];
      return next(specifier, { ...context, conditions });
    }`;
    register(`data:text/javascript,${encodeURIComponent(hook)}`);
  }
  if (sourceCondition && !process.execArgv.some((arg) => arg.includes('tsx'))) {
    const { register: registerTsx } = await import('tsx/esm/api');
    registerTsx();
  }

  // Built: dist/oclif.js, the @oclif/core that dist/commands.js shares (bundled, one file to load).
  const { execute, settings } = await import(fromSource ? '@oclif/core' : '../dist/oclif.js');
  if (fromSource) {
    // We load .ts ourselves; oclif must neither look for ts-node nor rewrite paths.
    settings.enableAutoTranspile = false;
    const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    pjson.oclif.commands = { ...pjson.oclif.commands, target: './commands.ts' };
    pjson.oclif.helpClass = { ...pjson.oclif.helpClass, target: './oclif.ts' };
    // Rooted at src/: oclif's root plugin reads <root>/oclif.manifest.json whatever ignoreManifest
    // says, and the package root may hold a built (stale) one.
    await execute({ loadOptions: { root: fileURLToPath(new URL('../src/', import.meta.url)), pjson } });
  } else if (helpCache) {
    const { recordRootHelp } = await import('./help-cache.js');
    await recordRootHelp(helpCache, () => execute({ dir: import.meta.url }));
  } else {
    await execute({ dir: import.meta.url });
  }
}
