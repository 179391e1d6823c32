import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../../lib/base';

export default class ExportGithubActions extends CairnCommand {
  static override summary =
    'Render a pipeline as a GitHub Actions workflow: one job per step, needs: from the DAG';
  static override description = [
    "A workflow_dispatch workflow with a `run` input (the id of a recorded run). Each job checks out the repository, runs `npm ci`, then `npx cairn step exec --run <run> --step <name> --env <env> --single-attempt`, retried in a shell loop by the step's `retries` policy (exit 2, a usage or config error, is not retried).",
    "Every ${env:NAME} the environment's stack and step configs refer to is passed from the repository secret of the same name: values are never written.",
  ].join('\n');
  static override examples = [
    '<%= config.bin %> export github-actions training --out .github/workflows/cairn-training.yml',
    '<%= config.bin %> export github-actions training --env team --runs-on self-hosted',
    'gh workflow run cairn-training.yml -f run=<run id>',
  ];
  static override args = {
    pipeline: Args.string({ description: 'Pipeline name (default: the project default)' }),
  };
  static override flags = {
    env: Flags.string({
      char: 'e',
      description: 'Stack environment the steps run with (a shared one: S3 storage, PostgreSQL metadata)',
      default: 'team',
    }),
    'runs-on': Flags.string({ description: 'Runner label of every job', default: 'ubuntu-latest' }),
    node: Flags.string({ description: 'Node.js version for actions/setup-node', default: '20' }),
    out: Flags.string({
      char: 'o',
      description: 'Write the YAML to this file (atomically) instead of stdout',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExportGithubActions);
    const common = await import('../../lib/export/common');
    const { usageError } = await import('../../lib/errors');
    if (!/^[\w.-]+$/.test(flags['runs-on']))
      throw usageError(`--runs-on "${flags['runs-on']}" is not a runner label`);
    if (!/^\d+(\.\d+){0,2}(\.x)?$|^lts\/\*$/.test(flags.node)) {
      throw usageError(`--node "${flags.node}" is not a Node.js version (e.g. 20, 22.x or lts/*)`);
    }
    const { describePipeline } = await import('../../lib/export/pipeline');
    const { renderGithubActions } = await import('../../lib/export/github-actions');
    const project = await common.loadExportProject(flags.project, flags.env);
    const pipeline = await common.loadExportPipeline(project, args.pipeline);
    const workflow = renderGithubActions(await describePipeline(project, pipeline), {
      runsOn: flags['runs-on'],
      nodeVersion: flags.node,
    });
    await common.writeOutput(await common.toYaml([workflow]), flags.out);
    for (const warning of common.unsharedStackWarnings(project)) this.warn(warning);
  }
}
