import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CairnError,
  ErrorCodes,
  type PluginRef,
  type StepLogLine,
  type StepTask,
  type StorageDriver,
  serializeError,
} from '@cairn/core';
import { runStepTask } from '@cairn/runtime';
import { createPlugin } from '@cairn/runtime/plugin-kit';
import type { Job, Worker } from 'bullmq';
import { fulfilledWithin, probe, redact, redisOptions, resolveEndpoint } from './options';
import {
  type CancelMessage,
  cancelChannel,
  type JobData,
  type JobOutcome,
  logChannel,
  PREFIX,
} from './protocol';

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** The Redis URL (a `${env:…}` reference is resolved now). */
  connection: string;
  /** @default 'cairn' */
  queue?: string;
  /** Steps this worker runs at once. @default 1 */
  concurrency?: number;
  /**
   * This worker's checkout of the project. Tasks carry the coordinator's
   * absolute paths; when those do not exist here, paths inside the
   * coordinator's project folder are mapped into this one, so workers on
   * other machines with the same checkout load the same pipeline modules.
   * @default process.cwd()
   */
  projectDir?: string;
  /** @default 30000 */
  lockDurationMs?: number;
  /** @default 30000 */
  stalledIntervalMs?: number;
  /** Step log lines, as they happen (they also go to the coordinator). */
  onLog?(line: StepLogLine, job: WorkerJob): void;
  /** One call when a job starts and one when it ends. */
  onJob?(event: WorkerJobEvent): void;
}

/** Which job a callback is about. */
export interface WorkerJob {
  jobId: string;
  runId: string;
  pipeline: string;
  step: string;
  attempt: number;
}

/** How often closing checks whether the running steps have finished. */
const IDLE_POLL_MS = 50;

export type WorkerJobEvent =
  | ({ type: 'started' } & WorkerJob)
  | ({
      type: 'finished';
      /**
       * `returned`: the worker stopped and put the job back on the queue for another worker; with
       * `error` when Redis did not answer, and the job goes back only once its lock expires.
       */
      status: 'succeeded' | 'failed' | 'cancelled' | 'returned';
      durationMs: number;
      error?: { code?: string; message: string };
    } & WorkerJob);

/** A running worker. */
export interface BullmqWorker {
  /** `host:port` of the Redis server (no credentials), for messages. */
  readonly where: string;
  readonly queue: string;
  readonly concurrency: number;
  /**
   * Stop taking jobs and disconnect. By default the steps that are running
   * finish first; with `abandon: true` they are aborted and their jobs go
   * back to the queue at once, for another worker to take.
   */
  close(options?: { abandon?: boolean }): Promise<void>;
}

/**
 * Run step tasks from the queue until closed: each job's StepTask runs with
 * the core's step runner, over storage re-created from the task's ref. Log
 * lines are published for the coordinator; a cancel message aborts the step.
 *
 * @example
 * ```ts
 * const worker = await startWorker({ connection: process.env.REDIS_URL!, concurrency: 2 });
 * process.once('SIGTERM', () => worker.close({ abandon: true }));
 * ```
 */
export async function startWorker(options: StartWorkerOptions): Promise<BullmqWorker> {
  const endpoint = resolveEndpoint(options.connection);
  await probe(endpoint);
  const { Worker, WaitingError } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const queueName = options.queue ?? 'cairn';
  const concurrency = options.concurrency ?? 1;
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const connection = redisOptions(endpoint);
  const controllers = new Map<string, AbortController>();
  // A cancel can cross a job on its way to a worker (too late to remove it, too early to abort it):
  // remembered for a minute, so the job is cancelled as it starts.
  const cancelledEarly = new Map<string, number>();
  const storages = new Map<string, Promise<StorageDriver>>();
  let abandoning = false;

  const subscriber = new Redis(connection);
  subscriber.on('error', () => {});
  subscriber.on('message', (channel: string, text: string) => {
    if (channel !== cancelChannel(queueName)) return;
    try {
      const { jobId } = JSON.parse(text) as CancelMessage;
      const controller = controllers.get(jobId);
      if (controller) controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
      else cancelledEarly.set(jobId, Date.now());
    } catch {
      // Not ours.
    }
  });
  await subscriber.subscribe(cancelChannel(queueName));
  const publisher = new Redis(connection);
  publisher.on('error', () => {});

  const processor = async (job: Job<JobData>, token?: string, lockSignal?: AbortSignal) => {
    const data = job.data;
    const id = job.id!;
    const about: WorkerJob = {
      jobId: id,
      runId: data.runId,
      pipeline: data.pipeline.name,
      step: data.step,
      attempt: data.attempt,
    };
    const controller = new AbortController();
    controllers.set(id, controller);
    for (const [jobId, at] of cancelledEarly) if (Date.now() - at > 60_000) cancelledEarly.delete(jobId);
    if (cancelledEarly.delete(id)) {
      controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
    }
    // BullMQ aborts this when the lock is lost: another worker will run the job, so stop ours.
    lockSignal?.addEventListener('abort', () => controller.abort(lockSignal.reason), { once: true });
    const started = Date.now();
    options.onJob?.({ type: 'started', ...about });
    let outcome: JobOutcome;
    try {
      // Inside the try: a module missing on this worker is the step's error, reported to the run.
      const { configIsStored, ...sent } = data;
      const task = localTask(sent, projectDir);
      const result = await runStepTask(task, {
        // Resolved from this worker's environment and parsed by the step's schema, as the coordinator did.
        ...(configIsStored ? { configIsStored: true } : {}),
        storage: await storageFor(task.storage, task.projectDir, storages),
        signal: controller.signal,
        onLog: (line) => {
          options.onLog?.(line, about);
          publisher.publish(logChannel(queueName), JSON.stringify({ jobId: id, line })).catch(() => {});
        },
      });
      outcome = { ok: true, result };
    } catch (error) {
      if (abandoning) {
        // Back to the queue now rather than after the lock expires; the step is safe to re-run.
        // With Redis unreachable the move would wait for it forever, and so would the worker's
        // close: after a few seconds the job is left to BullMQ's stalled check instead, which
        // puts it back once its lock expires.
        const moved = await fulfilledWithin(job.moveToWait(token));
        options.onJob?.({
          type: 'finished',
          ...about,
          status: 'returned',
          durationMs: Date.now() - started,
          ...(moved
            ? {}
            : {
                error: {
                  message: `Redis at ${endpoint.where} did not answer: the job goes back to the queue when its lock expires`,
                },
              }),
        });
        throw new WaitingError();
      }
      outcome = { ok: false, error: serializeError(error) };
    } finally {
      controllers.delete(id);
    }
    const { error } = outcome as { error?: { code?: string; message: string } };
    options.onJob?.({
      type: 'finished',
      ...about,
      status: outcome.ok ? 'succeeded' : error?.code === ErrorCodes.RUN_CANCELLED ? 'cancelled' : 'failed',
      durationMs: Date.now() - started,
      ...(error ? { error: { ...(error.code ? { code: error.code } : {}), message: error.message } } : {}),
    });
    return outcome;
  };

  const worker: Worker<JobData, JobOutcome> = new Worker(queueName, processor, {
    connection,
    prefix: PREFIX,
    concurrency,
    ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
    ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
    autorun: false,
  });
  worker.on('error', () => {});
  void worker.run().catch(() => {});
  try {
    await worker.waitUntilReady();
  } catch (cause) {
    await worker.close(true).catch(() => {});
    subscriber.disconnect();
    publisher.disconnect();
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq worker: cannot open queue "${queueName}" on Redis at ${endpoint.where}: ${redact(String((cause as Error)?.message ?? cause), endpoint)}`,
    );
  }

  /** Resolves once no step runs on this worker. */
  const idle = async () => {
    while (controllers.size > 0) await sleep(IDLE_POLL_MS);
  };
  let closing: Promise<void> | undefined;
  return {
    where: endpoint.where,
    queue: queueName,
    concurrency,
    close(closeOptions = {}) {
      closing ??= (async () => {
        if (closeOptions.abandon) {
          abandoning = true;
          for (const controller of controllers.values()) {
            controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The worker is stopping'));
          }
        }
        // BullMQ's close waits for the running steps, then for its connections to end: the steps
        // however long they take, the connections a few seconds more.
        await fulfilledWithin(worker.close(), idle());
        subscriber.disconnect();
        publisher.disconnect();
        for (const storage of storages.values()) await (await storage.catch(() => undefined))?.close?.();
      })();
      return closing;
    },
  };
}

/**
 * The task as this machine sees it: when the coordinator's project folder
 * does not exist here, paths inside it (pipeline module, scratch folder) are
 * mapped into this worker's project folder.
 */
export function localTask(task: StepTask, projectDir: string): StepTask {
  const module = task.pipeline.module.startsWith('file:')
    ? fileURLToPath(task.pipeline.module)
    : task.pipeline.module;
  const sameLayout = existsSync(task.projectDir);
  if (sameLayout && existsSync(module)) return task;
  const mapped = (path: string) => {
    const rel = relative(task.projectDir, path);
    return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)
      ? undefined
      : join(projectDir, rel);
  };
  const localModule = existsSync(module) ? module : mapped(module);
  if (!localModule || !existsSync(localModule)) {
    throw new CairnError(
      ErrorCodes.PIPELINE_NOT_FOUND,
      `Pipeline module ${module} of step "${task.step}" does not exist on this worker${localModule ? ` (nor ${localModule} in its project folder)` : ''}`,
      {
        hint: 'Run `cairn worker` in a checkout of the same project (same commit), so pipeline modules exist at the same place inside it.',
      },
    );
  }
  // A state folder outside the coordinator's project has no place here: the runner's default then.
  const { stateDir, ...rest } = task;
  const localStateDir = sameLayout || stateDir === undefined ? stateDir : mapped(stateDir);
  return {
    ...rest,
    pipeline: { ...task.pipeline, module: localModule },
    projectDir: sameLayout ? task.projectDir : projectDir,
    tmpDir: sameLayout ? task.tmpDir : (mapped(task.tmpDir) ?? join(tmpdir(), 'cairn-worker')),
    ...(localStateDir === undefined ? {} : { stateDir: localStateDir }),
  };
}

/** One storage driver per distinct ref, made on first use. */
function storageFor(
  ref: PluginRef | undefined,
  projectDir: string,
  cache: Map<string, Promise<StorageDriver>>,
): Promise<StorageDriver> {
  if (!ref) {
    return Promise.reject(new CairnError(ErrorCodes.EXECUTOR_FAILED, 'The task carries no storage ref'));
  }
  const key = JSON.stringify(ref);
  let storage = cache.get(key);
  if (!storage) {
    storage = createPlugin<StorageDriver>(ref, projectDir);
    cache.set(key, storage);
    storage.catch(() => cache.delete(key));
  }
  return storage;
}
