import { Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../../lib/base';
import { EXIT_FAILED } from '../../lib/errors';

export default class StepExec extends CairnCommand {
  static override summary =
    'Run one step of a recorded run as its own process (what exported cluster tasks run)';
  static override description =
    "Executes one step of a run recorded with `cairn run --create` (or by an earlier `cairn run`), in this process, against the project's stack for --env: its config is the one the run recorded (`${env:…}` references resolved from this process's environment), even where conf/ here now gives another (a warning names the step), its inputs are the outputs its upstream steps recorded in the run, and its outputs, execution record and lineage are written as `cairn run` writes them; a result already in the cache is reused. The step's `retries` are made here, unless --single-attempt leaves retrying to the engine that runs this command (as exported workflows do). Safe to retry: a step that already finished in the run is not run again (exit 0). Run the steps in DAG order — `cairn export argo` and `cairn export github-actions` emit exactly these commands. When the last step finishes the run is closed succeeded; a failed step closes it failed (exit 1), and a later successful retry closes it succeeded again. Exit 2 when the run or step does not exist or an upstream step has not finished: never worth retrying.";
  static override examples = [
    '<%= config.bin %> run training --create    # prints the run id, e.g. r_01JD…',
    '<%= config.bin %> step exec --run r_01JD… --step ingest',
    '<%= config.bin %> step exec --run r_01JD… --step train --env team --json',
    '<%= config.bin %> step exec --run r_01JD… --step train --single-attempt    # the engine retries',
  ];
  static override flags = {
    run: Flags.string({ description: 'Id of the recorded run', required: true }),
    step: Flags.string({ description: 'Step (node) name in the run’s pipeline', required: true }),
    env: envFlag,
    json: Flags.boolean({ description: 'Print one JSON event per line, then the result', default: false }),
    'single-attempt': Flags.boolean({
      description: "Make one attempt, not the step's retries: the engine running this command retries it",
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(StepExec);
    const core = await import('@cairn/core');
    const runtime = await import('@cairn/runtime');
    const { openProjectFor } = await import('../../lib/project');
    const stack = await openProjectFor(flags);
    const write = (text: string) => process.stdout.write(text);
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) =>
      controller.abort(new core.CairnError(core.ErrorCodes.RUN_CANCELLED, `Step cancelled (${signal})`));
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const record = await stack.metadata.getRun(flags.run);
      if (!record) {
        throw new core.CairnError(
          core.ErrorCodes.METADATA_NOT_FOUND,
          `No run ${flags.run} in the metadata store`,
          {
            hint: 'Record one with `cairn run <pipeline> --create` (it prints the run id).',
          },
        );
      }
      const pipeline = await stack.pipeline(record.pipeline);
      const result = await runtime.execRunStep(pipeline, flags.run, flags.step, {
        ...stack.runOptions(),
        signal: controller.signal,
        singleAttempt: flags['single-attempt'],
        onEvent: (event) => {
          if (flags.json) write(`${JSON.stringify(event)}\n`);
          else if (event.type === 'step.log') write(`  ${event.step}: ${event.message}\n`);
        },
      });
      const { outcome } = result;
      if (result.configDrift) this.warn(result.configDrift);
      if (flags.json) write(`${JSON.stringify(result)}\n`);
      else {
        const outputs = Object.entries(outcome.outputs)
          .map(([name, ref]) => `${name} ${ref.digest.slice(0, 12)}`)
          .join(', ');
        const what =
          outcome.status === 'done'
            ? 'already finished in this run: nothing ran'
            : outcome.status === 'failed'
              ? `failed: ${outcome.error?.message ?? ''}`
              : outcome.status;
        write(`${result.step} (run ${result.runId}): ${what}${outputs ? `\n  outputs: ${outputs}` : ''}\n`);
        if (result.runStatus !== 'running') write(`Run ${result.runId}: ${result.runStatus}\n`);
      }
      if (outcome.status === 'failed' || outcome.status === 'cancelled') this.exit(EXIT_FAILED);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await stack.close();
    }
  }
}
