import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { type CairnConfig, CairnError, defineConfig, ErrorCodes } from '@cairn/core';
import { isPlainObject } from '../config/merge';
import { importModule } from '../load';

/** Names of the project config file, in the order they are looked for. */
export const PROJECT_CONFIG_FILES = [
  'cairn.config.ts',
  'cairn.config.mts',
  'cairn.config.js',
  'cairn.config.mjs',
] as const;

async function findConfigFile(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const present = new Set(names);
  return PROJECT_CONFIG_FILES.find((name) => present.has(name));
}

/**
 * The nearest folder, `from` itself or one of its parents, that holds a
 * `cairn.config.*` file; `undefined` when there is none up to the root.
 */
export async function findProjectRoot(from: string): Promise<string | undefined> {
  let dir = resolve(from);
  for (;;) {
    if (await findConfigFile(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Load the project's `cairn.config.ts` (or `.mts`, `.js`, `.mjs`) from
 * `projectDir`: import it (TypeScript needs no build), take its default
 * export and check it as `defineConfig` does.
 *
 * @returns the absolute path of the file and the config.
 * @throws CairnError `CAIRN_STACK_INVALID` when the file is missing, throws
 * while loading, has no default export, or its config is malformed (the
 * original error is the `cause`).
 */
export async function loadProjectConfig(projectDir: string): Promise<{ file: string; config: CairnConfig }> {
  const dir = resolve(projectDir);
  const name = await findConfigFile(dir);
  if (!name) {
    throw new CairnError(ErrorCodes.STACK_INVALID, `No cairn.config.ts in ${dir}`, {
      hint: 'Run `cairn new <dir>` to scaffold a project, or create cairn.config.ts with `export default defineConfig({ … })`.',
    });
  }
  const file = join(dir, name);
  let module: Record<string, unknown>;
  try {
    module = await importFromRoot(file, dir);
  } catch (cause) {
    // importModule reports load failures as a missing pipeline; for the project config the stack is what is invalid.
    const reason =
      CairnError.is(cause) && cause.code === ErrorCodes.PIPELINE_NOT_FOUND ? (cause.cause ?? cause) : cause;
    // A .ts file in a package without "type": "module" is compiled as CommonJS, and its ESM imports then fail obscurely.
    const esmInCjs = /^ERR_REQUIRE_(CYCLE_MODULE|ESM|ASYNC_MODULE)$/.test(
      String((reason as NodeJS.ErrnoException | undefined)?.code),
    );
    // A plugin factory's refusal keeps its own code, the one docs/errors.md gives for a bad option.
    const pluginOption = CairnError.is(reason) && reason.code === ErrorCodes.PLUGIN_OPTIONS_INVALID;
    throw new CairnError(
      pluginOption ? ErrorCodes.PLUGIN_OPTIONS_INVALID : ErrorCodes.STACK_INVALID,
      `${name} failed to load: ${(reason as Error)?.message ?? String(reason)}`,
      {
        cause,
        hint: esmInCjs
          ? 'Add "type": "module" to the project\'s package.json, or rename the file to cairn.config.mts.'
          : `Fix the error in ${name}; it is imported as an ES module.`,
      },
    );
  }
  const config = module.default;
  if (config === undefined) {
    throw new CairnError(ErrorCodes.STACK_INVALID, `${name} has no default export`, {
      hint: 'End the file with `export default defineConfig({ stack: { … } })`.',
    });
  }
  if (!isPlainObject(config)) {
    throw new CairnError(
      ErrorCodes.STACK_INVALID,
      `${name}: the default export must be a config object, got ${config === null ? 'null' : typeof config}`,
      { hint: 'Export `defineConfig({ … })`, not a function or a value.' },
    );
  }
  try {
    defineConfig(config as CairnConfig);
  } catch (cause) {
    if (!CairnError.is(cause)) throw cause;
    const source = relative(dir, file) || name;
    throw new CairnError(ErrorCodes.STACK_INVALID, cause.message.replace(/^cairn\.config/, source), {
      cause,
      issues: cause.issues.map((issue) => ({ ...issue, source })),
    });
  }
  return { file, config: config as CairnConfig };
}

/**
 * Import the config file with the project root as the current folder, so
 * that relative paths its plugin factories resolve (`localStore({ dir:
 * '.cairn/artifacts' })`) name the same files from any subfolder. Factories
 * resolve their paths when called, i.e. during this import. Worker threads
 * cannot change folder; they receive absolute plugin refs instead.
 */
async function importFromRoot(file: string, root: string): Promise<Record<string, unknown>> {
  const previous = process.cwd();
  if (previous === root) return importModule(file);
  try {
    process.chdir(root);
  } catch (cause) {
    // A worker thread cannot change folder (asking is cheaper than loading worker_threads to know).
    if ((cause as NodeJS.ErrnoException).code === 'ERR_WORKER_UNSUPPORTED_OPERATION')
      return importModule(file);
    throw cause;
  }
  try {
    return await importModule(file);
  } finally {
    process.chdir(previous);
  }
}
