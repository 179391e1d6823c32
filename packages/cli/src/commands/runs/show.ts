import { Args } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class RunsShow extends CairnCommand {
  static override summary = 'Show one run: steps, durations, configs, artifacts, metrics, git commit';
  static override examples = [
    '<%= config.bin %> runs show r_0mfz3k2a1b2c3d4e5f',
    '<%= config.bin %> runs show latest --json',
  ];
  static override args = { id: Args.string({ description: 'Run id, or "latest"', required: true }) };
  static override flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsShow);
    const { withProject, readJsonArtifact } = await import('../../lib/inspect');
    const { runConfigs } = await import('../../lib/runs');
    const { usageError } = await import('../../lib/errors');
    const detail = await withProject({ project: flags.project }, async ({ metadata, storage }) => {
      const run =
        args.id === 'latest' ? (await metadata.listRuns({ limit: 1 }))[0] : await metadata.getRun(args.id);
      if (!run) {
        throw usageError(`No run "${args.id}"`, {
          hint: 'List runs with `cairn runs`.',
          code: 'CAIRN_METADATA_NOT_FOUND',
        });
      }
      const executions = await metadata.listExecutions(run.id);
      const configs = await runConfigs({ storage }, run);
      const metrics: Record<string, unknown> = {};
      for (const execution of executions) {
        for (const [output, ref] of Object.entries(execution.outputs)) {
          if (ref.type === 'metrics')
            metrics[`${execution.step}.${output}`] = await readJsonArtifact(storage, ref.digest).catch(
              () => null,
            );
        }
      }
      return { run, executions, configs, metrics };
    });
    if (flags.json) return this.printJson(detail);
    const { table, colorStatus, formatDuration, formatBytes, shortDigest } = await import('../../lib/format');
    const { run, executions, configs, metrics } = detail;
    this.log(`Run ${run.id}  ${colorStatus(run.status)}`);
    this.log(
      `  pipeline ${run.pipeline} · env ${run.env} · started ${run.startedAt}${run.finishedAt ? ` · ${formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))}` : ''}`,
    );
    this.log(`  git ${run.git ? `${run.git.commit}${run.git.dirty ? ' (dirty)' : ''}` : '-'}`);
    if (run.error) this.log(`  error: ${run.error}`);
    this.log('\nSteps');
    this.log(
      table(
        ['STEP', 'STATUS', 'DURATION', 'ATTEMPTS', 'OUTPUTS'],
        executions.map((e) => [
          e.step,
          colorStatus(e.status),
          formatDuration(e.durationMs),
          String(e.attempts),
          Object.entries(e.outputs)
            .map(([name, ref]) => `${name}=${ref.type}:${shortDigest(ref.digest)} (${formatBytes(ref.size)})`)
            .join(', ') || (e.error ? e.error.message.split('\n')[0]! : '-'),
        ]),
      ),
    );
    if (Object.keys(configs).length > 0) {
      this.log('\nConfigs');
      for (const [step, config] of Object.entries(configs)) this.log(`  ${step}: ${JSON.stringify(config)}`);
    }
    if (Object.keys(metrics).length > 0) {
      this.log('\nMetrics');
      for (const [where, values] of Object.entries(metrics))
        this.log(`  ${where}: ${JSON.stringify(values)}`);
    }
  }
}
