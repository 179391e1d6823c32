import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Plan extends CairnCommand {
  static override summary = 'Show what a run would execute and why, without running anything';
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan training --set train.trees=300',
    '<%= config.bin %> plan --force ingest --json',
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
    json: jsonFlag,
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
      });
      if (flags.json) return this.printJson(plan);
      const { table, colorStatus } = await import('../lib/format');
      this.log(`Plan for ${plan.pipeline} (env ${plan.env})`);
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
