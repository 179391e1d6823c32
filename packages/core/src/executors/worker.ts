/**
 * The body of a worker-pool thread: receive a task, run it with the shared
 * step runner, post logs and the result back. One task at a time.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';
import type { PluginRef, StorageDriver } from '../contracts/storage';
import { CairnError, ErrorCodes, serializeError } from '../errors';
import { importModule } from '../load';
import { runStepTask } from '../runner';
import type { WorkerReply, WorkerRequest } from './worker-protocol';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const storages = new Map<string, Promise<StorageDriver>>();
const controllers = new Map<number, AbortController>();
const post = (reply: WorkerReply) => port.postMessage(reply);

/**
 * Re-create a plugin from its ref. Resolve first (the project's copy, then
 * this package's view), then import once through importModule, which
 * registers tsx for TypeScript entries: a plain `import()` that failed on a
 * `.ts` file would be cached by Node and fail again after tsx registers.
 */
async function createPlugin<T>(ref: PluginRef, projectDir: string): Promise<T> {
  let target: string;
  try {
    target = createRequire(join(projectDir, 'package.json')).resolve(ref.module);
  } catch {
    try {
      target = fileURLToPath(import.meta.resolve(ref.module));
    } catch (cause) {
      throw new CairnError(
        ErrorCodes.EXECUTOR_FAILED,
        `Cannot find module "${ref.module}" from ${projectDir} to re-create a plugin in a worker thread`,
        { cause },
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

port.on('message', async (message: WorkerRequest) => {
  if (message.type === 'abort') {
    controllers.get(message.id)?.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
    return;
  }
  const { id, task } = message;
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    if (!task.storage) throw new CairnError(ErrorCodes.EXECUTOR_FAILED, 'The task carries no storage ref');
    const key = JSON.stringify(task.storage);
    let storage = storages.get(key);
    if (!storage) {
      storage = createPlugin<StorageDriver>(task.storage, task.projectDir);
      storages.set(key, storage);
      storage.catch(() => storages.delete(key));
    }
    const result = await runStepTask(task, {
      storage: await storage,
      signal: controller.signal,
      onLog: (line) => post({ type: 'log', id, line }),
    });
    post({ type: 'done', id, result });
  } catch (error) {
    post({ type: 'error', id, error: serializeError(error) });
  } finally {
    controllers.delete(id);
  }
});
