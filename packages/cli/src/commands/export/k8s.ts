import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../../lib/base';

export default class ExportK8s extends CairnCommand {
  static override summary =
    'Render an endpoint as Kubernetes objects: the model server, and its canary as an Argo Rollout';
  static override description = [
    'Reads the endpoint from the deployer of --env, as `cairn endpoints show` does. One primary version: a Deployment and a Service. A canary: an Argo Rollouts Rollout whose pods serve the canary version, with a canary step at the local weight and a pause (promote with `kubectl argo rollouts promote`), and the Service with its stable and canary Services.',
    'Each pod runs `cairn deploy <model> <version>` then `cairn serve` in --pod-env, whose ${env:NAME} references become secretKeyRefs to --secret.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> export k8s penguins --image registry.example.com/team/shop:1.4.0',
    '<%= config.bin %> export k8s penguins --image shop:dev --replicas 10 --out k8s/penguins.yaml',
    '<%= config.bin %> export k8s penguins --image shop:dev --rollout --nginx-ingress penguins',
  ];
  static override args = { endpoint: Args.string({ description: 'Endpoint name', required: true }) };
  static override flags = {
    image: Flags.string({
      description: 'Container image holding the project and its dependencies',
      required: true,
    }),
    env: envFlag,
    'pod-env': Flags.string({
      description:
        'Stack environment the pods run with (one whose deployer listens on 0.0.0.0, with shared storage)',
      default: 'team',
    }),
    secret: Flags.string({
      description: 'Kubernetes Secret holding the ${env:NAME} values, one key per name',
      default: 'cairn',
    }),
    namespace: Flags.string({ char: 'n', description: 'Namespace to put in the metadata' }),
    replicas: Flags.integer({ description: 'Pods of the server', default: 2, min: 1, max: 1000 }),
    port: Flags.integer({
      description: 'Port `cairn serve` listens on in the pod',
      default: 8080,
      min: 1,
      max: 65535,
    }),
    rollout: Flags.boolean({
      description: 'Render a Rollout even when the endpoint has no canary',
      default: false,
    }),
    'nginx-ingress': Flags.string({
      description: 'NGINX Ingress of the stable Service: split requests by weight, not by pods',
    }),
    out: Flags.string({
      char: 'o',
      description: 'Write the YAML to this file (atomically) instead of stdout',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExportK8s);
    const common = await import('../../lib/export/common');
    const { usageError } = await import('../../lib/errors');
    const secret = common.requireDnsLabel('secret', flags.secret);
    const namespace =
      flags.namespace === undefined ? undefined : common.requireDnsLabel('namespace', flags.namespace);
    const ingress =
      flags['nginx-ingress'] === undefined
        ? undefined
        : common.requireDnsLabel('nginx-ingress', flags['nginx-ingress']);
    if (flags.image.trim() === '' || /\s/.test(flags.image)) {
      throw usageError(`--image "${flags.image}" is not an image reference`);
    }
    // The pods' environment: checked and read before the deployer is opened, so a bad flag changes nothing.
    const podProject = await common.loadExportProject(flags.project, flags['pod-env']);
    const host = (podProject.stack.deployer?.options as { host?: unknown } | undefined)?.host;
    const warnings: string[] = [];
    if (!podProject.stack.deployer) {
      throw usageError(`The stack (env ${flags['pod-env']}) has no deployer for the pods to serve with`, {
        code: 'CAIRN_STACK_INVALID',
        hint: 'Give --pod-env an environment with a deployer (cairn add deploy-local).',
      });
    }
    if (host !== '0.0.0.0' && host !== '::') {
      warnings.push(
        `The deployer of env ${flags['pod-env']} listens on ${typeof host === 'string' ? host : '127.0.0.1'}: in a pod, the Service reaches it only on 0.0.0.0 (set host: '0.0.0.0' for that environment in cairn.config.ts).`,
      );
    }
    const delivery = await import('../../lib/delivery');
    const deployment = await delivery.withDeployer(flags, (deployer) =>
      delivery.requireEndpoint(deployer, args.endpoint),
    );
    const { renderK8s } = await import('../../lib/export/k8s');
    const rendered = renderK8s(deployment, {
      image: flags.image,
      podEnv: flags['pod-env'],
      envVars: [...common.stackEnvRefs(podProject)].sort(),
      secret,
      replicas: flags.replicas,
      port: flags.port,
      rollout: flags.rollout,
      ...(namespace ? { namespace } : {}),
      ...(ingress ? { nginxIngress: ingress } : {}),
    });
    await common.writeOutput(await common.toYaml(rendered.documents), flags.out);
    for (const warning of [...warnings, ...rendered.warnings]) this.warn(warning);
  }
}
