import { pathToFileURL } from 'node:url';
import { CairnError, ErrorCodes } from '@cairn/core';

const TS_FILE = /\.[cm]?tsx?$/;
const REGISTERED = Symbol.for('cairn.tsx-registered');

/**
 * Import a module by path, TypeScript included, with no build step: `.ts`
 * files go through tsx's loader hooks, registered once per process (or
 * thread) on first need. Under vitest, which transforms TypeScript itself,
 * nothing is registered.
 */
export async function importModule(path: string): Promise<Record<string, unknown>> {
  if (TS_FILE.test(path)) await ensureTypeScriptLoader();
  try {
    return (await import(/* @vite-ignore */ pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (cause) {
    if (CairnError.is(cause)) throw cause;
    const code = (cause as NodeJS.ErrnoException)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' && String((cause as Error).message).includes(path);
    throw new CairnError(
      ErrorCodes.PIPELINE_NOT_FOUND,
      missing ? `Module not found: ${path}` : `Could not load ${path}: ${(cause as Error)?.message ?? cause}`,
      { cause },
    );
  }
}

async function ensureTypeScriptLoader(): Promise<void> {
  const g = globalThis as Record<symbol, Promise<void> | undefined> & { __vitest_worker__?: unknown };
  // Inside vitest's own module runner TypeScript already loads. Not `process.env.VITEST`:
  // it leaks into child processes (a CLI spawned by a test) that do need tsx.
  if (g.__vitest_worker__ !== undefined) return;
  g[REGISTERED] ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  await g[REGISTERED];
}
