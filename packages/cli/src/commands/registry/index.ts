import { CairnCommand, jsonFlag } from '../../lib/base';

export default class Registry extends CairnCommand {
  static override summary = 'List registered models with their latest, staging and production versions';
  static override examples = ['<%= config.bin %> registry', '<%= config.bin %> registry --json'];
  static override flags = { json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Registry);
    const { withProject } = await import('../../lib/inspect');
    const models = await withProject({ project: flags.project }, ({ metadata }) => metadata.listModels());
    if (flags.json) return this.printJson(models);
    if (models.length === 0) return this.log('No registered models yet.');
    const { table } = await import('../../lib/format');
    this.log(
      table(
        ['MODEL', 'LATEST', 'STAGING', 'PRODUCTION'],
        models.map((m) => [
          m.model,
          `v${m.latest}`,
          m.staging ? `v${m.staging}` : '-',
          m.production ? `v${m.production}` : '-',
        ]),
      ),
    );
  }
}
