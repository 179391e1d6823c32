/**
 * The body of a worker-pool thread: receive a task, run it with the shared
 * step runner, post logs and the result back. One task at a time.
 */
import { parentPort } from 'node:worker_threads';
import { CairnError, ErrorCodes, type StorageDriver, serializeError } from '@cairn/core';
import { createPlugin } from '../plugins';
import { runStepTask } from '../runner';
import type { WorkerReply, WorkerRequest } from './worker-protocol';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const storages = new Map<string, Promise<StorageDriver>>();
const controllers = new Map<number, AbortController>();
const post = (reply: WorkerReply) => port.postMessage(reply);

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
