import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsTraffic extends CairnCommand {
  static override summary = "Set an endpoint's traffic split by version: 3=90 4=10";
  static override description =
    'Every version must already be a live route of the endpoint and the weights must sum to 100; the largest weight becomes the primary, and a version given 0 leaves the endpoint. The change is a new revision.';
  static override examples = [
    '<%= config.bin %> endpoints traffic penguins 3=90 4=10 --reason "widen the canary"',
    '<%= config.bin %> endpoints traffic penguins 3=0 4=100',
  ];
  static override strict = false;
  static override args = {
    name: Args.string({ description: 'Endpoint name', required: true }),
    split: Args.string({ description: 'version=weight pairs, e.g. 3=90 4=10', required: true }),
  };
  static override flags = {
    env: envFlag,
    reason: Flags.string({ char: 'r', description: 'Why (kept in the revision history)' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(EndpointsTraffic);
    const delivery = await import('../../lib/delivery');
    // Every word after the endpoint name is a pair (the command is not strict).
    const pairs = (argv as string[]).slice(1);
    const split = delivery.parseTrafficSplit(pairs);
    const deployment = await delivery.withDeployer(flags, (deployer) =>
      deployer.setTraffic(args.name, split, flags.reason ? { reason: flags.reason } : {}),
    );
    if (flags.json) return this.printJson(deployment);
    this.log(delivery.describeChange(deployment));
  }
}
