import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import {
  CairnError,
  deserializeError,
  ErrorCodes,
  type ExecuteOptions,
  type Executor,
  type ExecutorDescriptor,
  type PluginRef,
  type StepTask,
  type StepTaskResult,
} from '@cairn/core';
import type { WorkerReply, WorkerRequest } from './worker-protocol';

/**
 * worker_threads, loaded when the first worker starts, not when the runtime is imported: most
 * runs use the in-process executor, and loading it is a few ms of every process's start.
 */
let workerClass: typeof Worker | undefined;
const loadWorker = (): typeof Worker =>
  (workerClass ??= (
    createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
  ).Worker);

export interface WorkerPoolOptions {
  /** Worker threads, each running one step at a time. @default the number of cores */
  size?: number;
  /**
   * How long an aborted step may take to stop before its thread is
   * terminated (and replaced). @default 5000
   */
  abortGraceMs?: number;
}

/**
 * Run steps in a pool of worker threads so CPU-bound steps use every core.
 * A task crosses to a thread as plain data (pipeline module + step name +
 * config + input refs); the thread loads the pipeline module itself
 * (TypeScript included) and re-creates storage from its `ref`.
 *
 * @example
 * ```ts
 * export default defineConfig({ stack: { executor: workerPool({ size: 4 }) } });
 * ```
 */
export function workerPool(options: WorkerPoolOptions = {}): ExecutorDescriptor<WorkerPoolOptions> {
  for (const key of ['size', 'abortGraceMs'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `workerPool: option "${key}" must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return {
    kind: 'executor',
    name: 'worker-pool',
    options,
    create(context) {
      if (!context.storage.ref) {
        throw new CairnError(
          ErrorCodes.EXECUTOR_FAILED,
          `workerPool: storage "${context.storage.name}" cannot be re-created in a worker thread (it has no ref)`,
          { hint: 'Use localStore() or a storage plugin that sets `ref`, or the inProcess() executor.' },
        );
      }
      const size = options.size ?? context.concurrency ?? availableParallelism();
      return new WorkerPoolExecutor(size, context.storage.ref, options.abortGraceMs ?? 5000);
    },
  };
}

interface PendingTask {
  resolve(result: StepTaskResult): void;
  reject(error: Error): void;
  options: ExecuteOptions;
}

interface PoolWorker {
  thread: Worker;
  busyWith?: number;
}

const sourceMode = import.meta.url.endsWith('.ts');

/** Worker threads do not inherit loader hooks: in source mode a small bootstrap registers tsx first. */
function workerEntry(): URL {
  return sourceMode
    ? new URL('./worker-bootstrap.mjs', import.meta.url)
    : new URL('./executors/worker.js', import.meta.url);
}

function workerExecArgv(): string[] {
  const args = [...process.execArgv];
  if (sourceMode && !args.some((arg) => arg.startsWith('--conditions=@cairn/source')))
    args.push('--conditions=@cairn/source');
  return args;
}

class WorkerPoolExecutor implements Executor {
  readonly concurrency: number;
  private readonly workers: PoolWorker[] = [];
  private readonly pending = new Map<number, PendingTask>();
  private nextId = 1;
  private closed = false;

  constructor(
    size: number,
    private readonly storage: PluginRef,
    private readonly abortGraceMs: number,
  ) {
    this.concurrency = size;
  }

  execute(task: StepTask, options: ExecuteOptions): Promise<StepTaskResult> {
    if (this.closed)
      return Promise.reject(new CairnError(ErrorCodes.EXECUTOR_FAILED, 'workerPool: the pool is closed'));
    if (!task.pipeline.module) {
      return Promise.reject(
        new CairnError(
          ErrorCodes.EXECUTOR_FAILED,
          `workerPool: pipeline "${task.pipeline.name}" has no module path, so worker threads cannot load step "${task.step}"`,
          {
            hint: 'Define the pipeline in a module file, or pass { module: import.meta.url } to pipeline().',
          },
        ),
      );
    }
    const id = this.nextId++;
    const worker = this.workers.find((w) => w.busyWith === undefined) ?? this.spawn();
    worker.busyWith = id;
    // A busy thread keeps the process alive (the run awaits it); an idle one must not.
    worker.thread.ref();
    return new Promise<StepTaskResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, options });
      const onAbort = () => {
        worker.thread.postMessage({ type: 'abort', id } satisfies WorkerRequest);
        // A step that ignores its signal does not get to keep the thread.
        setTimeout(() => {
          if (worker.busyWith === id) {
            this.fail(worker, new CairnError(ErrorCodes.RUN_CANCELLED, `Step "${task.step}" was cancelled`));
          }
        }, this.abortGraceMs).unref();
      };
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          options.signal.removeEventListener('abort', onAbort);
          fn(value);
        };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject), options });
      worker.thread.postMessage({
        type: 'run',
        id,
        task: { ...task, storage: task.storage ?? this.storage },
      } satisfies WorkerRequest);
    });
  }

  private spawn(): PoolWorker {
    const thread = new (loadWorker())(workerEntry(), { execArgv: workerExecArgv() });
    const worker: PoolWorker = { thread };
    thread.on('message', (reply: WorkerReply) => {
      const task = this.pending.get(reply.id);
      if (!task) return;
      if (reply.type === 'log') {
        task.options.onLog?.(reply.line);
        return;
      }
      this.pending.delete(reply.id);
      worker.busyWith = undefined;
      thread.unref();
      if (reply.type === 'done') task.resolve(reply.result);
      else task.reject(deserializeError(reply.error));
    });
    thread.on('error', (error) => {
      this.fail(
        worker,
        new CairnError(ErrorCodes.EXECUTOR_FAILED, `workerPool: a worker thread crashed: ${error.message}`, {
          cause: error,
        }),
      );
    });
    thread.on('exit', (code) => {
      this.fail(
        worker,
        new CairnError(ErrorCodes.EXECUTOR_FAILED, `workerPool: a worker thread exited with code ${code}`),
      );
    });
    this.workers.push(worker);
    return worker;
  }

  /** Reject the worker's task (if any) and retire the thread; the next task spawns a fresh one. */
  private fail(worker: PoolWorker, error: CairnError): void {
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers.splice(index, 1);
    if (worker.busyWith !== undefined) {
      const task = this.pending.get(worker.busyWith);
      this.pending.delete(worker.busyWith);
      worker.busyWith = undefined;
      task?.reject(error);
    }
    worker.thread.removeAllListeners('exit');
    void worker.thread.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    for (const worker of workers) {
      if (worker.busyWith !== undefined) {
        const task = this.pending.get(worker.busyWith);
        this.pending.delete(worker.busyWith);
        task?.reject(new CairnError(ErrorCodes.RUN_CANCELLED, 'workerPool: closed while a step was running'));
      }
      worker.thread.removeAllListeners('exit');
    }
    await Promise.all(workers.map((worker) => worker.thread.terminate()));
  }
}
