import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class Endpoints extends CairnCommand {
  static override summary = 'List deployed endpoints with their revision and traffic routes';
  static override description =
    'Each endpoint has subcommands: `show` (routes and health), `history` (every revision), `traffic`, `promote` and `rollback` (new revisions), and `remove` (stop serving it and forget its revisions: a staging endpoint a stopped load test left, or, with --yes, any other).';
  static override examples = ['<%= config.bin %> endpoints', '<%= config.bin %> endpoints --json'];
  static override flags = { env: envFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Endpoints);
    const delivery = await import('../../lib/delivery');
    const deployments = await delivery.withDeployer(flags, (deployer) => deployer.list());
    if (flags.json) return this.printJson(deployments);
    if (deployments.length === 0) return this.log('No endpoints deployed yet: `cairn deploy <model>`.');
    this.log(delivery.deploymentsTable(deployments));
  }
}
