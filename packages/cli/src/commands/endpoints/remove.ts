import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsRemove extends CairnCommand {
  static override summary = 'Remove an endpoint: stop serving it and forget its revisions';
  static override description =
    'For a staging endpoint a stopped load test left behind (<endpoint>-loadtest, which `cairn serve` would serve), or an endpoint nobody needs. An endpoint that may serve traffic (any endpoint no load test made) is removed only with --yes: its requests stop being answered and its revision history is gone, so `endpoints rollback` cannot bring it back. The staging endpoint of a load test still running on this machine is never removed (stop the test: it removes its endpoint itself); one held by a load test on another host, whose process this machine cannot see, needs --yes. A running `cairn serve` stops serving the endpoint.';
  static override examples = [
    '<%= config.bin %> endpoints remove penguins-loadtest',
    '<%= config.bin %> endpoints remove penguins-old --yes',
    '<%= config.bin %> endpoints remove penguins-old --yes --json',
  ];
  static override args = { name: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = {
    env: envFlag,
    yes: Flags.boolean({
      char: 'y',
      description: 'Remove an endpoint that may serve traffic, or one a load test on another host holds',
      default: false,
    }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EndpointsRemove);
    const delivery = await import('../../lib/delivery');
    const removed = await delivery.withDeployer(flags, async (deployer) => {
      const deployment = await delivery.requireEndpoint(deployer, args.name);
      await refuseUnlessRemovable(deployment, flags.yes);
      await deployer.remove(args.name);
      return deployment;
    });
    if (flags.json) return this.printJson({ ...removed, removed: true });
    this.log(
      `Removed ${removed.endpoint}: it was at revision ${removed.revision} (${delivery.formatRoutes(removed)}); its revisions are forgotten.`,
    );
  }
}

/**
 * Refuse to remove what a typo must not remove: the staging endpoint of a load test still running
 * here (always), one a load test on another host holds, or an endpoint that may serve traffic
 * (both unless `yes`). A staging endpoint whose load test stopped goes without asking.
 * @throws CAIRN_DEPLOY_INVALID (a running load test's endpoint), CAIRN_USAGE (--yes needed)
 */
async function refuseUnlessRemovable(
  deployment: import('@cairn/core').Deployment,
  yes: boolean,
): Promise<void> {
  const [{ loadTestHolder }, { usageError }, { formatRoutes, formatTime }] = await Promise.all([
    import('@cairn/delivery'),
    import('../../lib/errors'),
    import('../../lib/delivery'),
  ]);
  const name = deployment.endpoint;
  const holder = loadTestHolder(deployment);
  if (holder?.running === true) {
    const { CairnError, ErrorCodes } = await import('@cairn/core');
    throw new CairnError(
      ErrorCodes.DEPLOY_INVALID,
      `endpoint "${name}" is the staging endpoint of a load test still running (pid ${holder.pid} on ${holder.host}, since ${formatTime(deployment.updatedAt)}): it was not removed`,
      {
        hint: `Wait for the load test to finish, or stop it (Ctrl-C, or kill ${holder.pid}): it removes its staging endpoint itself.`,
      },
    );
  }
  if (holder?.running === false || yes) return;
  if (holder) {
    throw usageError(
      `endpoint "${name}" is held by a load test on another host (pid ${holder.pid} on ${holder.host}), which this machine cannot see: it was not removed`,
      { hint: `If that load test has stopped, run \`cairn endpoints remove ${name} --yes\`.` },
    );
  }
  throw usageError(
    `endpoint "${name}" may be serving traffic (revision ${deployment.revision}: ${formatRoutes(deployment)}): removing it stops every answer it gives and forgets its revisions, so it was not removed`,
    {
      hint: `Pass --yes to remove it. To take one version out of its traffic instead, use \`cairn endpoints traffic ${name}\` or \`cairn endpoints rollback ${name}\`.`,
    },
  );
}
