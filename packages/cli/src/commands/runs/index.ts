import { Flags } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class Runs extends CairnCommand {
  static override summary = 'List runs, newest first';
  static override examples = [
    '<%= config.bin %> runs',
    '<%= config.bin %> runs --pipeline training --status failed --limit 5',
    '<%= config.bin %> runs --json',
  ];
  static override flags = {
    pipeline: Flags.string({ description: 'Only runs of this pipeline' }),
    status: Flags.string({
      description: 'Only runs with this status',
      options: ['running', 'succeeded', 'failed', 'cancelled'],
    }),
    env: Flags.string({ char: 'e', description: 'Only runs in this environment' }),
    limit: Flags.integer({ char: 'n', description: 'Most runs to show', default: 20, min: 1 }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Runs);
    const { withProject } = await import('../../lib/inspect');
    const runs = await withProject({ project: flags.project }, async (stack) => {
      // Runs whose process is gone (a dead PID here, an expired lease anywhere) are closed before they
      // are listed, so `running` means running. A store opened read-only still lists: the next run closes them.
      const { markAbandonedRuns } = await import('@cairn/runtime');
      await markAbandonedRuns(stack.metadata).catch(() => {});
      return stack.metadata.listRuns({
        limit: flags.limit,
        ...(flags.pipeline ? { pipeline: flags.pipeline } : {}),
        ...(flags.status ? { status: flags.status as 'failed' } : {}),
        ...(flags.env ? { env: flags.env } : {}),
      });
    });
    if (flags.json) return this.printJson(runs);
    if (runs.length === 0) return this.log('No runs yet. Start one with `cairn run`.');
    const { table, colorStatus, formatDuration } = await import('../../lib/format');
    this.log(
      table(
        ['RUN', 'PIPELINE', 'ENV', 'STATUS', 'STARTED', 'DURATION', 'EXEC/CACHED/FAILED/SKIPPED', 'COMMIT'],
        runs.map((r) => [
          r.id,
          r.pipeline,
          r.env,
          colorStatus(r.status),
          r.startedAt.replace('T', ' ').slice(0, 19),
          r.finishedAt ? formatDuration(Date.parse(r.finishedAt) - Date.parse(r.startedAt)) : '-',
          r.counts ? `${r.counts.executed}/${r.counts.cached}/${r.counts.failed}/${r.counts.skipped}` : '-',
          r.git ? `${r.git.commit.slice(0, 8)}${r.git.dirty ? '*' : ''}` : '-',
        ]),
      ),
    );
  }
}
