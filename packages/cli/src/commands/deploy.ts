import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Deploy extends CairnCommand {
  static override summary = 'Deploy a registered model version behind an endpoint';
  static override description =
    'Changes what is deployed (control mode): the deployer loads the version, checks it, then routes traffic to it by the strategy, as a new revision of the endpoint. A running `cairn serve` follows the change. Without a version, the version in --stage (production by default) is deployed. A deploy that fails leaves the traffic as it was.';
  static override examples = [
    '<%= config.bin %> deploy penguins',
    '<%= config.bin %> deploy penguins 4 --strategy canary --percent 10 --reason "canary of v4"',
    '<%= config.bin %> deploy penguins 5 --strategy shadow',
    '<%= config.bin %> deploy penguins --stage staging --endpoint penguins-staging',
    '<%= config.bin %> deploy penguins 4 --json',
  ];
  static override args = {
    model: Args.string({ description: 'Registered model name', required: true }),
    version: Args.integer({ description: 'Version number (default: the version in --stage)', min: 1 }),
  };
  static override flags = {
    env: envFlag,
    endpoint: Flags.string({ description: 'Endpoint name (default: the model name)' }),
    strategy: Flags.string({
      description: 'How the version reaches traffic',
      options: ['blue-green', 'canary', 'shadow'],
      default: 'blue-green',
    }),
    percent: Flags.integer({
      description: 'Share of the units a canary answers (1–99)',
      min: 1,
      max: 99,
    }),
    stage: Flags.string({
      description: 'Deploy the version in this stage when no version is given',
      options: ['production', 'staging'],
      default: 'production',
    }),
    reason: Flags.string({ char: 'r', description: 'Why (kept in the revision history)' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Deploy);
    const { usageError } = await import('../lib/errors');
    if (flags.strategy === 'canary' && flags.percent === undefined) {
      throw usageError('--strategy canary needs --percent (1–99)');
    }
    if (flags.strategy !== 'canary' && flags.percent !== undefined) {
      throw usageError(`--percent applies to --strategy canary, not ${flags.strategy}`);
    }
    const delivery = await import('../lib/delivery');
    const strategy =
      flags.strategy === 'canary'
        ? { type: 'canary' as const, percent: flags.percent! }
        : { type: flags.strategy as 'blue-green' | 'shadow' };
    const { withStack } = await import('../lib/inspect');
    const deployment = await withStack(flags, async (stack) => {
      delivery.requireDeployer(stack);
      const version = await delivery.resolveModelVersion(
        stack,
        args.model,
        args.version,
        flags.stage as 'production',
      );
      const deployer = await delivery.openDeployer(stack, 'control');
      try {
        return await deployer.deploy({
          endpoint: flags.endpoint ?? args.model,
          model: { model: version.model, version: version.version, digest: version.digest },
          strategy,
          reason: flags.reason ?? `cairn deploy ${version.model} ${version.version} (${strategy.type})`,
        });
      } finally {
        await deployer.close();
      }
    });
    if (flags.json) return this.printJson(deployment);
    this.log(delivery.describeChange(deployment));
  }
}
