import { Args } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class EndpointsShow extends CairnCommand {
  static override summary = "An endpoint's routes and the health of each";
  static override description =
    'Health is what the deployer reports in this process (loaded, answering); request counts and latencies are those of this process, not of a running `cairn serve` (ask its /v1/endpoints/<name>/health route for those).';
  static override examples = [
    '<%= config.bin %> endpoints show penguins',
    '<%= config.bin %> endpoints show penguins --json',
  ];
  static override args = { name: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = { env: envFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EndpointsShow);
    const delivery = await import('../../lib/delivery');
    const { deployment, health } = await delivery.withDeployer(flags, async (deployer) => {
      const deployment = await delivery.requireEndpoint(deployer, args.name);
      return { deployment, health: await deployer.health(args.name) };
    });
    if (flags.json) return this.printJson({ ...deployment, health });
    const { table } = await import('../../lib/format');
    this.log(`${delivery.describeChange(deployment)}`);
    this.log(
      `updated ${delivery.formatTime(deployment.updatedAt)}${deployment.reason ? ` · ${deployment.reason}` : ''}`,
    );
    this.log(`health: ${health.status}`);
    this.log(
      table(
        ['MODEL', 'VERSION', 'ROLE', 'WEIGHT', 'READY', 'DIGEST', 'ERROR'],
        health.routes.map((route) => {
          const weight = deployment.routes.find(
            (r) => r.model.version === route.model.version && r.model.model === route.model.model,
          )?.weight;
          return [
            route.model.model,
            `v${route.model.version}`,
            route.role,
            weight === undefined ? '-' : `${weight}%`,
            route.ready ? 'yes' : 'no',
            route.model.digest.slice(0, 12),
            route.error ?? '',
          ];
        }),
      ),
    );
  }
}
