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
    metric: Flags.string({
      description:
        'For a canary, when the stack has an A/B engine: the outcome its experiment judges, name[:binomial|continuous][:increase|decrease] (default success:binomial:increase)',
    }),
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
    const metric = flags.metric === undefined ? undefined : parseMetric(flags.metric);
    if (metric === null) {
      throw usageError(`--metric "${flags.metric}" is not name[:binomial|continuous][:increase|decrease]`, {
        hint: 'For example --metric correct or --metric revenue:continuous:increase',
      });
    }
    const delivery = await import('../lib/delivery');
    const strategy =
      flags.strategy === 'canary'
        ? { type: 'canary' as const, percent: flags.percent! }
        : { type: flags.strategy as 'blue-green' | 'shadow' };
    const { withProject } = await import('../lib/inspect');
    const deployment = await withProject(flags, async (stack) => {
      delivery.requireDeployer(stack);
      const version = await delivery.resolveModelVersion(
        stack,
        args.model,
        args.version,
        flags.stage as 'production',
      );
      const { deployVersion } = await import('@cairn/delivery');
      const deployer = await delivery.openDeployer(stack, 'control');
      // The A/B engine only matters for a canary: it gets the experiment that judges it.
      const abtest =
        strategy.type === 'canary' && stack.abtest
          ? await delivery.openAbTest({ ...stack, abtest: stack.abtest })
          : undefined;
      try {
        const { deployment: deployed, experiment } = await deployVersion(
          deployer,
          {
            endpoint: flags.endpoint ?? args.model,
            model: { model: version.model, version: version.version, digest: version.digest },
            strategy,
            reason: flags.reason ?? `cairn deploy ${version.model} ${version.version} (${strategy.type})`,
          },
          { abtest, metric: metric ?? undefined },
        );
        return { deployed, experiment };
      } finally {
        await abtest?.close();
        await deployer.close();
      }
    });
    if (flags.json) return this.printJson(deployment.deployed);
    this.log(delivery.describeChange(deployment.deployed));
    if (deployment.experiment) {
      this.log(
        `Canary experiment ${deployment.experiment}: post outcomes to the server's /outcomes route; \`cairn experiments show ${deployment.experiment}\` judges it.`,
      );
    }
  }
}

/** `correct`, `revenue:continuous`, `latency:continuous:decrease`; null when malformed. */
function parseMetric(text: string): import('@cairn/core').MetricDefinition | null {
  const [name, type = 'binomial', goal = 'increase', ...rest] = text.split(':');
  if (!name || !/^[a-z][a-z0-9._-]{0,99}$/.test(name) || rest.length > 0) return null;
  if (type !== 'binomial' && type !== 'continuous') return null;
  if (goal !== 'increase' && goal !== 'decrease') return null;
  return { name, type, goal };
}
