// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../lib/base';

/**
 * What `cairn worker` needs from the environment's executor. The descriptor
 * `bullmqExecutor()` returns carries `startWorker`, so the worker runs the
 * code of the very @cairn/executor-bullmq the project's cairn.config.ts
 * loaded: the CLI does not depend on the plugin.
 */
interface QueueExecutor {
  name: string;
  startWorker(options: {
    concurrency?: number;
    queue?: string;
    projectDir?: string;
    onJob?(event: WorkerJobEvent): void;
  }): Promise<{
    where: string;
    queue: string;
    concurrency: number;
    close(options?: { abandon?: boolean }): Promise<void>;
  }>;
}

interface WorkerJobEvent {
  type: 'started' | 'finished';
  runId: string;
  step: string;
  attempt: number;
  status?: string;
  durationMs?: number;
  error?: { code?: string; message: string };
}

export default class Worker extends CairnCommand {
  static override summary = 'Run pipeline steps from the Redis queue (executor-bullmq) until Ctrl-C';
  static override description =
    'Starts a worker for the environment whose executor is bullmqExecutor(): it takes step tasks that `cairn run --env <env>` puts on the queue, on this machine or any other, runs them in this checkout of the project, and prints one line per step. Run as many as you like, on as many machines as share the Redis server and the artifact storage. SIGINT or SIGTERM stops it (exit 0): steps it was running go back to the queue at once, for another worker.';
  static override examples = [
    '<%= config.bin %> worker --env team',
    '<%= config.bin %> worker --env team --concurrency 4',
    'REDIS_URL=redis://redis.internal:6379 <%= config.bin %> worker --env team --queue nightly',
  ];
  static override flags = {
    env: envFlag,
    concurrency: Flags.integer({
      char: 'c',
      description: 'Steps this worker runs at once',
      default: 1,
      min: 1,
    }),
    queue: Flags.string({
      description: 'Queue to take steps from (default: the executor’s `queue` option, else "cairn")',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Worker);
    const { requireProjectDir } = await import('../lib/project');
    const { usageError } = await import('../lib/errors');
    const { formatDuration } = await import('../lib/format');
    const { loadProjectConfig } = await import('@cairn/runtime');
    const { stackFor } = await import('@cairn/core');
    const projectDir = await requireProjectDir(flags.project);
    // Only the executor: a worker needs neither the metadata store nor the coordinator's storage.
    const { config } = await loadProjectConfig(projectDir);
    const executor = stackFor(config, flags.env).executor as unknown as Partial<QueueExecutor> | undefined;
    if (executor?.name !== 'bullmq' || typeof executor.startWorker !== 'function') {
      throw usageError(
        `The "${flags.env}" environment runs steps with the ${executor?.name ?? 'in-process'} executor, not bullmq: there is no queue to take them from`,
        {
          hint: "Give the environment bullmqExecutor({ connection: '${env:REDIS_URL}' }) as its executor in cairn.config.ts (`cairn add executor-bullmq`), or pass the --env that has it.",
        },
      );
    }

    const worker = await executor.startWorker({
      concurrency: flags.concurrency,
      ...(flags.queue ? { queue: flags.queue } : {}),
      projectDir,
      onJob: (event) => {
        if (event.type !== 'finished') return;
        const attempt = event.attempt > 1 ? ` (attempt ${event.attempt})` : '';
        const why = event.error ? `: ${event.error.message.split('\n')[0]}` : '';
        this.log(
          `${event.step}${attempt}  run ${event.runId}  ${formatDuration(event.durationMs)}  ${event.status}${why}`,
        );
      },
    });
    this.log(
      `Worker on ${worker.where} queue ${worker.queue}, concurrency ${worker.concurrency} (Ctrl-C to stop)`,
    );
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    this.log(`${signal}: stopping; steps still running go back to the queue`);
    await worker.close({ abandon: true });
    // Exit now: with Redis down, close() returns after its bounds, but BullMQ's own close is still
    // waiting for Redis and its timers (lock renewal, stalled checks) would keep the process alive.
    process.exit(0);
  }
}
