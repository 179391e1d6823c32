/**
 * Plugins re-created from their serializable reference (`PluginRef`) in
 * another thread or process: the worker pool and distributed executors both
 * need it, and both must resolve modules the same way.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError, ErrorCodes, type PluginRef } from '@cairn/core';
import { importModule } from './load';

/**
 * Re-create a plugin from its ref. Resolve first (the project's copy, then
 * this package's view), then import once through importModule, which
 * registers tsx for TypeScript entries: a plain `import()` that failed on a
 * `.ts` file would be cached by Node and fail again after tsx registers.
 *
 * @param projectDir resolve the module from this project first.
 * @throws CairnError `CAIRN_EXECUTOR_FAILED` when the module or its export is missing.
 */
export async function createPlugin<T>(ref: PluginRef, projectDir: string): Promise<T> {
  let target: string;
  try {
    target = createRequire(join(projectDir, 'package.json')).resolve(ref.module);
  } catch {
    try {
      target = fileURLToPath(import.meta.resolve(ref.module));
    } catch (cause) {
      throw new CairnError(
        ErrorCodes.EXECUTOR_FAILED,
        `Cannot find module "${ref.module}" from ${projectDir} to re-create a plugin on this worker`,
        { cause, hint: `Install ${ref.module} in the project the worker runs in.` },
      );
    }
  }
  const module = await importModule(target);
  const factory = module[ref.export];
  if (typeof factory !== 'function') {
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `Module "${ref.module}" has no export "${ref.export}" to re-create a plugin`,
    );
  }
  return factory(ref.options) as T;
}
