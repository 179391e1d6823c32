import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsRollback extends CairnCommand {
  static override summary = 'Restore the routes of the revision before the latest one, as a new revision';
  static override examples = [
    '<%= config.bin %> endpoints rollback penguins --reason "v4 raises error rate"',
    '<%= config.bin %> endpoints rollback penguins --json',
  ];
  static override args = { name: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = {
    env: envFlag,
    reason: Flags.string({ char: 'r', description: 'Why (kept in the revision history)' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EndpointsRollback);
    const delivery = await import('../../lib/delivery');
    const deployment = await delivery.withDeployer(flags, (deployer) =>
      deployer.rollback(args.name, flags.reason ? { reason: flags.reason } : {}),
    );
    if (flags.json) return this.printJson(deployment);
    this.log(delivery.describeChange(deployment));
  }
}
