import { Flags } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class Artifacts extends CairnCommand {
  static override summary = 'List artifacts, newest first';
  static override examples = [
    '<%= config.bin %> artifacts',
    '<%= config.bin %> artifacts --type metrics',
    '<%= config.bin %> artifacts --run r_0mfz3k2a1b2c3d4e5f --json',
  ];
  static override flags = {
    type: Flags.string({
      char: 't',
      description: 'Only artifacts of this type (json, metrics, model, table…)',
    }),
    run: Flags.string({ char: 'r', description: 'Only artifacts produced by this run' }),
    limit: Flags.integer({ char: 'n', description: 'Most artifacts to show', default: 50, min: 1 }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Artifacts);
    const { withProject, describeProducer } = await import('../../lib/inspect');
    const artifacts = await withProject({ project: flags.project }, ({ metadata }) =>
      metadata.listArtifacts({
        limit: flags.limit,
        ...(flags.type ? { type: flags.type } : {}),
        ...(flags.run ? { runId: flags.run } : {}),
      }),
    );
    if (flags.json) return this.printJson(artifacts);
    if (artifacts.length === 0) return this.log('No artifacts yet.');
    const { table, formatBytes, shortDigest } = await import('../../lib/format');
    this.log(
      table(
        ['DIGEST', 'TYPE', 'SIZE', 'PRODUCED BY', 'CREATED'],
        artifacts.map((a) => [
          shortDigest(a.digest),
          a.type,
          formatBytes(a.size),
          describeProducer(a),
          a.createdAt.replace('T', ' ').slice(0, 19),
        ]),
      ),
    );
  }
}
