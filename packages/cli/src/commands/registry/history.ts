import { Args } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class RegistryHistory extends CairnCommand {
  static override summary =
    'Show every stage transition of a model, oldest first (refused attempts included)';
  static override examples = [
    '<%= config.bin %> registry history penguins',
    '<%= config.bin %> registry history penguins --json',
  ];
  static override args = { model: Args.string({ description: 'Model name', required: true }) };
  static override flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryHistory);
    const { withProject } = await import('../../lib/inspect');
    const history = await withProject({ project: flags.project }, ({ metadata }) =>
      metadata.modelHistory(args.model),
    );
    if (flags.json) return this.printJson(history);
    if (history.length === 0) return this.log(`No transitions recorded for "${args.model}".`);
    const { table } = await import('../../lib/format');
    this.log(
      table(
        ['AT', 'VERSION', 'FROM', 'TO', 'ACTOR', 'ACCEPTED', 'REASON'],
        history.map((t) => [
          t.at.replace('T', ' ').slice(0, 19),
          `v${t.version}`,
          t.from,
          t.to,
          t.actor,
          t.accepted ? 'yes' : 'refused',
          t.reason,
        ]),
      ),
    );
  }
}
