import { Args } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsHistory extends CairnCommand {
  static override summary = 'Every revision of an endpoint: what changed, the routes, why, when';
  static override examples = [
    '<%= config.bin %> endpoints history penguins',
    '<%= config.bin %> endpoints history penguins --json',
  ];
  static override args = { name: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = { env: envFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EndpointsHistory);
    const delivery = await import('../../lib/delivery');
    const history = await delivery.withDeployer(flags, async (deployer) => {
      await delivery.requireEndpoint(deployer, args.name);
      return deployer.history(args.name);
    });
    if (flags.json) return this.printJson(history);
    const { table } = await import('../../lib/format');
    this.log(
      table(
        ['REVISION', 'CHANGE', 'ROUTES', 'REASON', 'TIME'],
        history.map((d) => [
          String(d.revision),
          d.change,
          delivery.formatRoutes(d),
          d.reason ?? '',
          delivery.formatTime(d.updatedAt),
        ]),
      ),
    );
  }
}
