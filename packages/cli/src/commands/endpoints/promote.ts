import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsPromote extends CairnCommand {
  static override summary = 'Make the canary or shadow the sole primary (100 %)';
  static override examples = [
    '<%= config.bin %> endpoints promote penguins --reason "canary healthy for a day"',
    '<%= config.bin %> endpoints promote penguins --json',
  ];
  static override args = { name: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = {
    env: envFlag,
    reason: Flags.string({ char: 'r', description: 'Why (kept in the revision history)' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EndpointsPromote);
    const delivery = await import('../../lib/delivery');
    const deployment = await delivery.withDeployer(flags, (deployer) =>
      deployer.promote(args.name, flags.reason ? { reason: flags.reason } : {}),
    );
    if (flags.json) return this.printJson(deployment);
    this.log(delivery.describeChange(deployment));
  }
}
