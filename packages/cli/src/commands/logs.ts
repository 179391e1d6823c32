import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Logs extends CairnCommand {
  static override summary = "Print a run's step logs, as the run kept them (secrets as ${env:…} references)";
  static override description =
    "Each execution's log lines — what the step logged through ctx.log, and a command step's stdout and stderr — are kept in <stateDir>/logs by the process that drove the run: the newest 1 MiB per execution (stepLogBytes), scrubbed of the run's secrets. Cached steps print the log of the execution they reused.";
  static override examples = [
    '<%= config.bin %> logs r_0mfz3k2a1b2c3d4e5f',
    '<%= config.bin %> logs latest --step train',
    '<%= config.bin %> logs r_0mfz3k2a1b2c3d4e5f --step train --json',
  ];
  static override args = { run: Args.string({ description: 'Run id, or "latest"', required: true }) };
  static override flags = {
    step: Flags.string({ char: 's', description: 'Only this step' }),
    env: envFlag,
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const { withProject } = await import('../lib/inspect');
    const { usageError } = await import('../lib/errors');
    const { readStepLog } = await import('@cairn/runtime');
    if (args.run !== 'latest' && !/^r_[0-9a-z]{4,64}$/i.test(args.run))
      throw usageError(`"${args.run}" is not a run id`, {
        hint: 'Run ids look like r_0mwyul89y00008cfa59e5.',
      });
    const found = await withProject(
      { project: flags.project, env: flags.env },
      async ({ metadata, stateDir }) => {
        const run =
          args.run === 'latest'
            ? (await metadata.listRuns({ limit: 1 }))[0]
            : await metadata.getRun(args.run);
        if (!run)
          throw usageError(`No run "${args.run}"`, {
            hint: 'List runs with `cairn runs`.',
            code: 'CAIRN_METADATA_NOT_FOUND',
          });
        const executions = await metadata.listExecutions(run.id);
        const steps = [...new Set(executions.map((e) => e.step))];
        if (flags.step && !steps.includes(flags.step))
          throw usageError(`Run ${run.id} has no step "${flags.step}"`, {
            hint: `Its steps: ${steps.join(', ') || 'none recorded'}.`,
            code: 'CAIRN_METADATA_NOT_FOUND',
          });
        const out = [];
        for (const execution of executions) {
          if (flags.step && execution.step !== flags.step) continue;
          // A cached step did not run: its log is the one of the execution it reused.
          const source =
            execution.status === 'cached' && execution.cachedFrom
              ? await metadata.getExecution(execution.cachedFrom)
              : execution;
          const log = source ? await readStepLog(stateDir, source.runId, source.id) : undefined;
          out.push({
            step: execution.step,
            executionId: execution.id,
            status: execution.status,
            ...(source && source !== execution
              ? { loggedBy: { runId: source.runId, executionId: source.id } }
              : {}),
            log: log ?? null,
          });
        }
        return { run: run.id, executions: out };
      },
    );
    if (flags.json) return this.printJson(found);
    for (const item of found.executions) {
      const from = item.loggedBy ? ` (reused from ${item.loggedBy.runId})` : '';
      this.log(`── ${item.step} · ${item.status}${from}`);
      if (!item.log) {
        this.log(
          item.status === 'skipped'
            ? '   (skipped: it did not run)'
            : '   (no log kept: it logged nothing, or ran where this project folder is not)',
        );
        continue;
      }
      if (item.log.droppedLines > 0)
        this.log(
          `   … ${item.log.droppedLines} earlier lines (${item.log.droppedBytes} bytes) dropped: the newest ${item.log.limitBytes} bytes are kept`,
        );
      for (const line of item.log.lines) {
        const fields = line.fields ? ` ${JSON.stringify(line.fields)}` : '';
        const attempt = line.attempt > 1 ? ` [attempt ${line.attempt}]` : '';
        this.log(`${line.at.slice(11, 23)} ${line.level.padEnd(5)}${attempt} ${line.message}${fields}`);
      }
    }
  }
}
