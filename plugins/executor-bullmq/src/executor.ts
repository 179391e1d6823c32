import {
  CairnError,
  deserializeError,
  ErrorCodes,
  type ExecuteOptions,
  type Executor,
  type ExecutorContext,
  type PluginRef,
  type StepTask,
  type StepTaskResult,
} from '@cairn/core';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type BullmqExecutorOptions,
  fulfilledWithin,
  probe,
  type RedisEndpoint,
  redact,
  redisOptions,
  resolveEndpoint,
} from './options';
import {
  type CancelMessage,
  cancelChannel,
  type JobData,
  type JobOutcome,
  jobIdFor,
  type LogMessage,
  logChannel,
  PREFIX,
} from './protocol';

/** How long a cancelled step may take to report back before the run moves on without it. */
const ABORT_GRACE_MS = 5000;
/**
 * How often the job's state is also read directly. QueueEvents reads a
 * Redis stream from the moment its first blocking read starts, so a job
 * that finishes in the instant after a run's executor is created can have
 * its event missed; the poll makes that a delay, never a hang.
 */
const POLL_MS = 1000;
/** Finished jobs kept in Redis for inspection (BullMQ boards, `redis-cli`); older ones are dropped. */
const KEEP_FINISHED = { count: 1000, age: 7 * 24 * 3600 };

/** Check the stack, connect, and return the live executor for one run. */
export async function createExecutor(
  options: BullmqExecutorOptions,
  context: ExecutorContext,
): Promise<Executor> {
  const { storage } = context;
  if (!storage.ref) {
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq: storage "${storage.name}" cannot be re-created on a worker (it has no ref)`,
      { hint: 'Use a storage plugin that sets `ref` (s3Storage, localStore), or another executor.' },
    );
  }
  if (storage.capabilities?.shared !== true && !options.allowLocalStorage) {
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq: storage "${storage.name}" is not shared across machines, so workers elsewhere could not read the inputs or write the outputs of steps`,
      {
        hint: 'Give this environment a shared store (s3Storage), or set allowLocalStorage: true in bullmqExecutor() when every worker runs on this machine.',
      },
    );
  }
  const endpoint = resolveEndpoint(options.connection);
  await probe(endpoint);

  const { Queue, QueueEvents } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const name = options.queue ?? 'cairn';
  const connection = redisOptions(endpoint);
  const queue = new Queue(name, { connection, prefix: PREFIX });
  const events = new QueueEvents(name, { connection, prefix: PREFIX });
  const subscriber = new Redis(connection);
  const publisher = new Redis(connection);
  const executor = new BullmqExecutor(
    options.concurrency ?? context.concurrency ?? 4,
    name,
    storage.ref,
    endpoint,
    queue,
    events,
    subscriber,
    publisher,
  );
  try {
    await Promise.all([
      queue.waitUntilReady(),
      events.waitUntilReady(),
      subscriber.subscribe(logChannel(name)),
    ]);
  } catch (cause) {
    await executor.close();
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq: cannot open queue "${name}" on Redis at ${endpoint.where}: ${redact(String((cause as Error)?.message ?? cause), endpoint)}`,
    );
  }
  return executor;
}

interface Pending {
  task: StepTask;
  options: ExecuteOptions;
  /** Reject now (close, abort), whatever the job does later. */
  reject(error: Error): void;
}

class BullmqExecutor implements Executor {
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private lastError: string | undefined;

  constructor(
    readonly concurrency: number,
    private readonly name: string,
    private readonly storage: PluginRef,
    private readonly endpoint: RedisEndpoint,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly subscriber: Redis,
    private readonly publisher: Redis,
  ) {
    // BullMQ and ioredis reconnect by themselves; an 'error' event without a listener would crash the process.
    const remember = (error: Error) => {
      this.lastError = redact(error.message, endpoint);
    };
    queue.on('error', remember);
    events.on('error', remember);
    subscriber.on('error', remember);
    publisher.on('error', remember);
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== logChannel(name)) return;
      let message: LogMessage;
      try {
        message = JSON.parse(text) as LogMessage;
      } catch {
        return;
      }
      this.pending.get(message.jobId)?.options.onLog?.(message.line);
    });
  }

  async execute(task: StepTask, options: ExecuteOptions): Promise<StepTaskResult> {
    if (this.closed) throw new CairnError(ErrorCodes.EXECUTOR_FAILED, 'bullmq: the executor is closed');
    if (!task.pipeline.module) {
      throw new CairnError(
        ErrorCodes.EXECUTOR_FAILED,
        `bullmq: pipeline "${task.pipeline.name}" has no module path, so workers cannot load step "${task.step}"`,
        { hint: 'Define the pipeline in a module file, or pass { module: import.meta.url } to pipeline().' },
      );
    }
    if (options.signal.aborted) throw cancelled(task);
    const jobId = jobIdFor(task);
    // Job data stays in Redis for days: it carries the stored config (`${env:…}` references), which the worker resolves.
    const { storedConfig, ...rest } = task;
    const data: JobData = {
      ...rest,
      ...(storedConfig !== undefined ? { config: storedConfig, configIsStored: true } : {}),
      storage: task.storage ?? this.storage,
    };

    return new Promise<StepTaskResult>((resolve, reject) => {
      let settled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.pending.delete(jobId);
        options.signal.removeEventListener('abort', onAbort);
        if (graceTimer) clearTimeout(graceTimer);
        if (poll) clearInterval(poll);
        fn();
      };
      const finished = (outcome: JobOutcome | undefined) =>
        settle(() => {
          if (outcome?.ok) resolve(outcome.result);
          else if (outcome && !outcome.ok) {
            const error = deserializeError(outcome.error);
            // A step that stopped because this run cancelled it reports the cancellation, whatever it threw.
            reject(options.signal.aborted ? cancelled(task) : error);
          } else reject(this.failure(task, 'the worker returned no result'));
        });
      const fail = (error: Error) => settle(() => reject(error));
      const onAbort = () => {
        void this.cancel(jobId).then((removed) => {
          // A job no worker had taken is gone: nothing will report back.
          if (removed) fail(cancelled(task));
        });
        // A worker runs it: its step sees the signal and reports back; a worker that does not is not waited for.
        graceTimer = setTimeout(() => fail(cancelled(task)), ABORT_GRACE_MS);
        graceTimer.unref();
      };
      this.pending.set(jobId, { task, options, reject: fail });
      options.signal.addEventListener('abort', onAbort, { once: true });

      this.queue
        .add(task.step, data, {
          jobId,
          attempts: 1,
          removeOnComplete: KEEP_FINISHED,
          removeOnFail: KEEP_FINISHED,
        })
        .then((job) => {
          poll = setInterval(() => {
            void this.queue
              .getJob(jobId)
              .then(async (current) => {
                if (settled) return;
                // Added, yet no longer in Redis: a Redis restarted without persistence (or flushed) lost
                // it, and no worker will ever report back. Fail the step rather than wait forever; the
                // next run re-runs it. (While Redis is down, getJob throws and the poll just tries again.)
                if (!current) {
                  // A cancel removes a job no worker took: that is the run's cancellation, not a loss.
                  fail(
                    options.signal.aborted
                      ? cancelled(task)
                      : this.failure(
                          task,
                          'the job is gone from the queue (was Redis restarted or flushed?)',
                        ),
                  );
                  return;
                }
                const state = await current.getState();
                if (state === 'completed') finished(current.returnvalue as JobOutcome);
                else if (state === 'failed')
                  fail(this.failure(task, redact(current.failedReason ?? 'the job failed', this.endpoint)));
              })
              .catch(() => {});
          }, POLL_MS);
          poll.unref();
          return job.waitUntilFinished(this.events);
        })
        .then(
          (outcome: JobOutcome) => finished(outcome),
          (error: unknown) => {
            if (options.signal.aborted) fail(cancelled(task));
            else fail(this.failure(task, redact(String((error as Error)?.message ?? error), this.endpoint)));
          },
        );
    });
  }

  /** Tell every worker to abort the job's step; remove the job if no worker has taken it. Resolves true when removed. */
  private async cancel(jobId: string): Promise<boolean> {
    try {
      await this.publisher.publish(
        cancelChannel(this.name),
        JSON.stringify({ jobId } satisfies CancelMessage),
      );
      const job = await this.queue.getJob(jobId);
      if (!job) return false;
      if ((await job.getState()) !== 'waiting') return false;
      await job.remove();
      return true;
    } catch {
      // Locked by a worker that just took it: the cancel message reaches it.
      return false;
    }
  }

  private failure(task: StepTask, reason: string): CairnError {
    const last = this.lastError ? ` (last Redis error: ${this.lastError})` : '';
    return new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq: step "${task.step}" failed on the queue "${this.name}" at ${this.endpoint.where}: ${reason}${last}`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const running = [...this.pending.entries()];
    // Sent, and waited for a few seconds at most: with Redis unreachable its client holds them until it returns.
    await fulfilledWithin(Promise.all(running.map(([jobId]) => this.cancel(jobId))));
    for (const [, entry] of running) {
      entry.reject(
        new CairnError(
          ErrorCodes.RUN_CANCELLED,
          `Step "${entry.task.step}" was cancelled: the executor closed`,
        ),
      );
    }
    await fulfilledWithin(Promise.allSettled([this.events.close(), this.queue.close()]));
    this.subscriber.disconnect();
    this.publisher.disconnect();
  }
}

function cancelled(task: StepTask): CairnError {
  return new CairnError(ErrorCodes.RUN_CANCELLED, `Step "${task.step}" was cancelled`);
}
