// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/**
 * @cairn/executor-bullmq — run a pipeline's steps on `cairn worker`
 * processes on any number of machines, through a Redis-backed BullMQ queue.
 */
import type { ExecutorDescriptor } from '@cairn/core';
import { createExecutor } from './executor';
import { type BullmqExecutorOptions, validateOptions } from './options';
import { type BullmqWorker, type StartWorkerOptions, startWorker } from './worker';

export type { BullmqExecutorOptions } from './options';
export type { BullmqWorker, StartWorkerOptions, WorkerJob, WorkerJobEvent } from './worker';
export { localTask, startWorker } from './worker';

/** The descriptor `bullmqExecutor()` returns: an executor descriptor that can also start a worker. */
export interface BullmqExecutorDescriptor extends ExecutorDescriptor<BullmqExecutorOptions> {
  /**
   * Start a worker on this executor's Redis and queue, with its lock
   * settings. `cairn worker` calls it, so the worker is the code of the very
   * package the project's `cairn.config.ts` loaded.
   */
  startWorker(options?: Partial<Omit<StartWorkerOptions, 'connection'>>): Promise<BullmqWorker>;
}

/**
 * A distributed executor: each step attempt becomes a BullMQ job on a Redis
 * queue, run by whichever `cairn worker` process takes it, on this machine or
 * another. Options are checked now; Redis is connected when a run starts, and
 * an unreachable server fails the run at once with `CAIRN_EXECUTOR_FAILED`.
 * With no worker running, steps wait in the queue (the run shows them
 * running) until one starts.
 *
 * Workers re-create storage from its `ref`, so the stack's storage must be
 * shared across machines (S3) unless `allowLocalStorage` is set.
 *
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, when one is invalid
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * export default defineConfig({
 *   env: { team: { storage: s3Storage({ bucket: '${env:ARTIFACT_BUCKET}' }), executor: bullmqExecutor({ connection: '${env:REDIS_URL}' }) } },
 * });
 * ```
 */
export function bullmqExecutor(options: BullmqExecutorOptions): BullmqExecutorDescriptor {
  validateOptions(options);
  const frozen: BullmqExecutorOptions = { ...options };
  return {
    kind: 'executor',
    name: 'bullmq',
    options: frozen,
    create: (context) => createExecutor(frozen, context),
    startWorker: (overrides = {}) =>
      startWorker({
        connection: frozen.connection,
        ...(frozen.queue ? { queue: frozen.queue } : {}),
        ...(frozen.lockDurationMs ? { lockDurationMs: frozen.lockDurationMs } : {}),
        ...(frozen.stalledIntervalMs ? { stalledIntervalMs: frozen.stalledIntervalMs } : {}),
        ...overrides,
      }),
  };
}

export default bullmqExecutor;
