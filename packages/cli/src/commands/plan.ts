import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../lib/base';

export default class Plan extends CairnCommand {
  static override summary = 'Show what a run would execute and why, without running anything';
  static override description =
    'Resolves and validates every config and looks up the cache as `cairn run` would, and runs nothing. --format mermaid prints a Mermaid flowchart and --format dot a Graphviz digraph of the pipeline: one node per step with its cache state (cached, or run and why), one edge per artifact wire labelled with the output name. With --from/--only, the plan covers the slice and the upstream steps it reads from the cache (exit 2 when one of them is not cached).';
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan training --set train.trees=300',
    '<%= config.bin %> plan --force ingest --json',
    '<%= config.bin %> plan --from train',
    '<%= config.bin %> plan --format mermaid > pipeline.mmd',
    '<%= config.bin %> plan --format dot | dot -Tsvg > pipeline.svg',
  ];
  static override args = {
    pipeline: Args.string({ description: 'Pipeline name (default: the project default)' }),
  };
  static override flags = {
    env: envFlag,
    set: Flags.string({
      char: 's',
      description: 'Override a step config value: step.key=value',
      multiple: true,
    }),
    cache: Flags.boolean({
      description: 'Plan as if caching were on (--no-cache: everything runs)',
      default: true,
      allowNo: true,
    }),
    force: Flags.string({ char: 'f', description: 'Plan this step as forced (repeatable)', multiple: true }),
    from: Flags.string({
      description:
        'Plan only this step and everything downstream of it; the steps it reads come from the cache',
      exclusive: ['only'],
    }),
    only: Flags.string({
      description:
        'Plan only these steps (comma-separated or repeated); the steps they read come from the cache',
      multiple: true,
      delimiter: ',',
    }),
    format: Flags.string({
      description: 'Output format: a table, JSON, a Mermaid flowchart or a Graphviz digraph',
      options: ['text', 'json', 'mermaid', 'dot'],
      default: 'text',
    }),
    json: Flags.boolean({ description: 'Same as --format json', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Plan);
    const runtime = await import('@cairn/runtime');
    const overrides = runtime.parseOverrides(flags.set ?? []);
    const { openProjectFor } = await import('../lib/project');
    const stack = await openProjectFor(flags);
    try {
      const pipeline = await stack.pipeline(args.pipeline);
      const plan = await runtime.planPipeline(pipeline, {
        ...stack.runOptions(),
        overrides,
        noCache: !flags.cache,
        ...(flags.force ? { force: flags.force } : {}),
        ...(flags.from ? { from: flags.from } : {}),
        ...(flags.only ? { only: flags.only } : {}),
      });
      const format = flags.json ? 'json' : flags.format;
      if (format === 'json') return this.printJson(plan);
      if (format === 'mermaid' || format === 'dot') {
        const graph = await import('../lib/plan-graph');
        const edges = graph.planEdges(pipeline.nodes, new Set(plan.steps.map((s) => s.step)));
        const render = format === 'mermaid' ? graph.planMermaid : graph.planDot;
        process.stdout.write(render({ pipeline: plan.pipeline, steps: plan.steps, edges }));
        return;
      }
      const { table, colorStatus } = await import('../lib/format');
      this.log(`Plan for ${plan.pipeline} (env ${plan.env}${plan.slice ? `, ${plan.slice}` : ''})`);
      this.log(
        table(
          ['STEP', 'ACTION', 'REASON', 'AFTER'],
          plan.steps.map((s) => [
            s.step,
            s.action === 'cached' ? colorStatus('cached') : colorStatus('running').replace('running', 'run'),
            s.detail ? `${s.reason}: ${s.detail}` : s.reason,
            s.dependsOn.join(', '),
          ]),
        ),
      );
      const runs = plan.steps.filter((s) => s.action === 'run').length;
      this.log(`${runs} of ${plan.steps.length} steps would run.`);
    } finally {
      await stack.close();
    }
  }
}
