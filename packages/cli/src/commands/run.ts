import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../lib/base';
import { EXIT_FAILED } from '../lib/errors';

export default class Run extends CairnCommand {
  static override summary = 'Run a pipeline: reuse what is cached, execute the rest, record everything';
  static override description =
    'Resolves and validates every step config before anything runs, then executes the steps whose cache key changed. --from <step> runs that step and everything downstream of it, --only <step>,… exactly those steps: the steps they read must be cached (same config, code and inputs), else the run is refused (CAIRN_UPSTREAM_NOT_CACHED) before anything is recorded. --sweep step.key=v1,v2 (repeatable) runs the grid of every combination, one run each, tagged with one sweep id; every combination is validated before the first runs, steps no swept key reaches run once and are cached after, and a table of the runs with their values and metrics follows. Exit code 0: success; 1: the run failed or was cancelled; 2: bad usage or invalid config/pipeline (nothing ran).';
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run training --env ci',
    '<%= config.bin %> run --set train.trees=200 --set evaluate.minAccuracy=0.9',
    '<%= config.bin %> run --force train --concurrency 2',
    '<%= config.bin %> run --from train --set train.trees=300',
    '<%= config.bin %> run --only prepare,train',
    '<%= config.bin %> run --sweep train.trees=100,300 --sweep train.maxDepth=3,5',
    '<%= config.bin %> run --json > events.jsonl',
    '<%= config.bin %> run training --create --env team   # record a run for `cairn step exec`; prints its id',
  ];
  static override args = {
    pipeline: Args.string({
      description: 'Pipeline name (default: the project default, else the first one)',
    }),
  };
  static override flags = {
    env: envFlag,
    set: Flags.string({
      char: 's',
      description: 'Override a step config value: step.key=value (YAML value)',
      multiple: true,
    }),
    cache: Flags.boolean({
      description: 'Reuse cached step results (--no-cache runs every step)',
      default: true,
      allowNo: true,
    }),
    force: Flags.string({
      char: 'f',
      description: 'Re-execute this step even when cached (repeatable)',
      multiple: true,
    }),
    from: Flags.string({
      description:
        'Run only this step and everything downstream of it; the steps it reads come from the cache',
      exclusive: ['only'],
    }),
    only: Flags.string({
      description:
        'Run only these steps (comma-separated or repeated); the steps they read come from the cache',
      multiple: true,
      delimiter: ',',
    }),
    sweep: Flags.string({
      description: 'Run the grid: step.key=value1,value2 (repeatable); one run per combination',
      multiple: true,
    }),
    concurrency: Flags.integer({ char: 'c', description: 'Most steps running at once', min: 1 }),
    json: Flags.boolean({ description: 'Print one JSON event per line', default: false }),
    create: Flags.boolean({
      description:
        'Only record the run (configs resolved, validated and stored) and print its id; its steps are then run one by one with `cairn step exec`',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Run);
    const core = await import('@cairn/core');
    const runtime = await import('@cairn/runtime');
    // Malformed flags fail before anything is loaded.
    const overrides = runtime.parseOverrides(flags.set ?? []);
    const axes = flags.sweep ? runtime.parseSweeps(flags.sweep) : undefined;
    if (flags.create) {
      // --create only records the run: flags about how its steps run would be dropped without a word.
      const ignored = [
        flags.sweep && '--sweep',
        flags.force && '--force',
        !flags.cache && '--no-cache',
        flags.from && '--from',
        flags.only && '--only',
        flags.concurrency && '--concurrency',
      ].filter((flag): flag is string => typeof flag === 'string');
      if (ignored.length > 0) {
        throw new core.CairnError(
          core.ErrorCodes.USAGE,
          `--create only records the run; ${ignored.join(', ')} ${ignored.length === 1 ? 'does' : 'do'} not apply to it`,
          {
            hint: 'Record it with --create (and --set), then run its steps with `cairn step exec --run <id> --step <name>`.',
          },
        );
      }
    }
    const { openProjectFor } = await import('../lib/project');
    const stack = await openProjectFor(flags);
    if (flags.create) {
      try {
        const pipeline = await stack.pipeline(args.pipeline);
        const created = await runtime.createRun(pipeline, { ...stack.runOptions(), overrides });
        if (flags.json) process.stdout.write(`${JSON.stringify(created)}\n`);
        else process.stdout.write(`${created.runId}\n`);
      } finally {
        await stack.close();
      }
      return;
    }
    const { jsonRenderer, lineRenderer, liveRenderer } = await import('../lib/progress');
    const write = (text: string) => process.stdout.write(text);
    const renderer = flags.json
      ? jsonRenderer(write)
      : process.stdout.isTTY && !axes
        ? liveRenderer(write)
        : lineRenderer(write);

    const controller = new AbortController();
    let interrupts = 0;
    /** The run being driven, once it is recorded (its run.started event). */
    let runId: string | undefined;
    // SIGTERM (a supervisor, `kill`, a CI timeout) cancels like Ctrl-C: the run ends `cancelled` and its command steps are killed.
    const onSignal = (signal: NodeJS.Signals) => {
      interrupts += 1;
      if (interrupts > 1) {
        // A second signal quits at once (CI cancellation sends SIGINT, then SIGTERM), but not
        // before the run's record says it ended: it must not stay `running` until someone
        // judges it abandoned.
        if (interrupts === 2)
          void markQuit(stack.runOptions().metadata, runId, signal).finally(() =>
            process.exit(signal === 'SIGTERM' ? 143 : 130),
          );
        return;
      }
      renderer.note('Cancelling: waiting for running steps to stop (Ctrl-C again to quit at once)…');
      controller.abort(new core.CairnError(core.ErrorCodes.RUN_CANCELLED, `Run cancelled (${signal})`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const pipeline = await stack.pipeline(args.pipeline);
      const control = {
        noCache: !flags.cache,
        ...(flags.force ? { force: flags.force } : {}),
        ...(flags.from ? { from: flags.from } : {}),
        ...(flags.only ? { only: flags.only } : {}),
        ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
        signal: controller.signal,
        onEvent: (event: import('@cairn/core').CairnEvent) => {
          if (event.type === 'run.started') runId = event.runId;
          renderer.onEvent(event);
        },
      };
      if (axes) {
        const sweep = await runtime.runSweep(
          pipeline,
          { ...stack.runOptions(), overrides: flags.set ?? [], ...control },
          axes,
        );
        renderer.stop();
        const { sweepSummary, renderSweep } = await import('../lib/sweep');
        const summary = await sweepSummary(stack, sweep);
        if (flags.json) process.stdout.write(`${JSON.stringify({ type: 'sweep.finished', ...summary })}\n`);
        else this.log(renderSweep(summary));
        if (summary.runs.some((run) => run.status !== 'succeeded') || sweep.notRun.length > 0)
          this.exit(EXIT_FAILED);
        return;
      }
      const result = await runtime.runPipeline(pipeline, { ...stack.runOptions(), overrides, ...control });
      renderer.stop();
      if (result.status !== 'succeeded') {
        if (!flags.json && result.error) {
          const where = result.error.step ? `step ${result.error.step}: ` : '';
          process.stderr.write(`${where}${result.error.message}\n`);
        }
        this.exit(EXIT_FAILED);
      }
    } finally {
      renderer.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await stack.close();
    }
  }
}

/** How long a second signal waits for the run's record to be closed before the process exits anyway. */
const QUIT_GRACE_MS = 2000;

/** Record a run left by a second signal as `cancelled`, waiting at most QUIT_GRACE_MS (a store that does not answer is not waited for). */
async function markQuit(
  metadata: import('@cairn/core').MetadataStore,
  runId: string | undefined,
  signal: NodeJS.Signals,
): Promise<void> {
  if (runId === undefined) return;
  const marked = metadata
    .updateRun(runId, {
      status: 'cancelled',
      finishedAt: new Date().toISOString(),
      error: `Run cancelled (${signal} again: quit without waiting for running steps)`,
    })
    .catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([marked, new Promise((resolve) => (timer = setTimeout(resolve, QUIT_GRACE_MS)))]);
  clearTimeout(timer);
}
