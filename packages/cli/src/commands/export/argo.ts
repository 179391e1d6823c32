import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../../lib/base';

export default class ExportArgo extends CairnCommand {
  static override summary =
    'Render a pipeline as an Argo Workflows Workflow whose tasks run `cairn step exec`';
  static override description = [
    "One DAG task per step, in the pipeline's order; each runs `cairn step exec --run {{workflow.parameters.run}} --step <name> --env <env> --single-attempt` in --image.",
    "Every ${env:NAME} the environment's stack and step configs refer to becomes a secretKeyRef to the key NAME of --secret: values are never written.",
    "Retries and timeouts come from each step's `retries` and `timeoutMs` (Argo makes the retries, each task one attempt; exit 2, a usage or config error, is not retried); resource requests from --resources (steps declare none).",
    'Step configs are resolved for --env first, as `cairn run` resolves them: an invalid config stops the export.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> export argo training --image registry.example.com/team/shop:1.4.0 --out argo/training.yaml',
    'argo submit argo/training.yaml -p run=<run id>',
    '<%= config.bin %> export argo training --image shop:dev --template --out argo/training-template.yaml',
    'argo template create argo/training-template.yaml && argo submit --from workflowtemplate/training -p run=<run id>',
    '<%= config.bin %> export argo training --image shop:dev --resources train=2:4Gi --resources "*=250m:512Mi"',
  ];
  static override args = {
    pipeline: Args.string({ description: 'Pipeline name (default: the project default)' }),
  };
  static override flags = {
    image: Flags.string({
      description: 'Container image holding the project and its dependencies',
      required: true,
    }),
    env: Flags.string({
      char: 'e',
      description: 'Stack environment the steps run with (a shared one: S3 storage, PostgreSQL metadata)',
      default: 'team',
    }),
    template: Flags.boolean({
      description: 'Render a WorkflowTemplate instead of a Workflow',
      default: false,
    }),
    secret: Flags.string({
      description: 'Kubernetes Secret holding the ${env:NAME} values, one key per name',
      default: 'cairn',
    }),
    namespace: Flags.string({ char: 'n', description: 'Namespace to put in the metadata' }),
    'service-account': Flags.string({ description: 'Service account the workflow pods run as' }),
    resources: Flags.string({
      description: 'Resource requests of a step: <step>=<cpu>:<memory> (repeatable; * for every other step)',
      multiple: true,
    }),
    out: Flags.string({
      char: 'o',
      description: 'Write the YAML to this file (atomically) instead of stdout',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExportArgo);
    const common = await import('../../lib/export/common');
    const { describePipeline } = await import('../../lib/export/pipeline');
    const { renderArgo } = await import('../../lib/export/argo');
    const secret = common.requireDnsLabel('secret', flags.secret);
    const namespace =
      flags.namespace === undefined ? undefined : common.requireDnsLabel('namespace', flags.namespace);
    const serviceAccount =
      flags['service-account'] === undefined
        ? undefined
        : common.requireDnsLabel('service-account', flags['service-account']);
    if (flags.image.trim() === '' || /\s/.test(flags.image)) {
      throw (await import('../../lib/errors')).usageError(
        `--image "${flags.image}" is not an image reference`,
      );
    }
    const project = await common.loadExportProject(flags.project, flags.env);
    const pipeline = await common.loadExportPipeline(project, args.pipeline);
    const described = await describePipeline(project, pipeline);
    const resources = common.parseResources(
      flags.resources ?? [],
      described.steps.map((s) => s.name),
    );
    const workflow = renderArgo(described, {
      image: flags.image,
      template: flags.template,
      secret,
      resources,
      ...(namespace ? { namespace } : {}),
      ...(serviceAccount ? { serviceAccount } : {}),
    });
    await common.writeOutput(await common.toYaml([workflow]), flags.out);
    for (const warning of common.unsharedStackWarnings(project)) this.warn(warning);
  }
}
