import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class Experiments extends CairnCommand {
  static override summary = 'List A/B experiments: status, variants and weights, primary metric';
  static override examples = ['<%= config.bin %> experiments', '<%= config.bin %> experiments --json'];
  static override flags = { env: envFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Experiments);
    const delivery = await import('../../lib/delivery');
    const experiments = await delivery.withAbTest(flags, (engine) => engine.listExperiments());
    if (flags.json) return this.printJson(experiments);
    if (experiments.length === 0) return this.log('No experiments yet.');
    const { table, colorStatus } = await import('../../lib/format');
    this.log(
      table(
        ['EXPERIMENT', 'STATUS', 'VARIANTS', 'PRIMARY METRIC', 'CREATED'],
        experiments.map((e) => {
          const total = e.variants.reduce((sum, v) => sum + v.weight, 0);
          return [
            e.name,
            colorStatus(e.status === 'concluded' ? `concluded: ${e.winner}` : e.status),
            e.variants.map((v) => `${v.name} ${Math.round((v.weight / total) * 1000) / 10}%`).join(' · '),
            `${e.primaryMetric.name} (${e.primaryMetric.type}, ${e.primaryMetric.goal})`,
            delivery.formatTime(e.createdAt),
          ];
        }),
      ),
    );
  }
}
