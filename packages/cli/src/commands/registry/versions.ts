import { Args } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class RegistryVersions extends CairnCommand {
  static override summary = 'List the versions of a model, newest first, with stage and metrics';
  static override examples = [
    '<%= config.bin %> registry versions penguins',
    '<%= config.bin %> registry versions penguins --json',
  ];
  static override args = { model: Args.string({ description: 'Model name', required: true }) };
  static override flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryVersions);
    const { withProject } = await import('../../lib/inspect');
    const { usageError } = await import('../../lib/errors');
    const versions = await withProject({ project: flags.project }, ({ metadata }) =>
      metadata.listModelVersions(args.model),
    );
    if (flags.json) return this.printJson(versions);
    if (versions.length === 0)
      throw usageError(`No model "${args.model}"`, {
        code: 'CAIRN_METADATA_NOT_FOUND',
        hint: 'List models with `cairn registry`.',
      });
    const { table, colorStatus, shortDigest } = await import('../../lib/format');
    this.log(
      table(
        ['VERSION', 'STAGE', 'DIGEST', 'RUN', 'CREATED', 'METRICS'],
        versions.map((v) => [
          `v${v.version}`,
          colorStatus(v.stage),
          shortDigest(v.digest),
          v.runId ?? '-',
          v.createdAt.replace('T', ' ').slice(0, 19),
          Object.entries(v.metrics)
            .map(([k, n]) => `${k}=${Number(n.toFixed(4))}`)
            .join(' '),
        ]),
      ),
    );
  }
}
