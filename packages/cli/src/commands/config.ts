// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Config extends CairnCommand {
  static override summary = "Show a step's resolved config and where each value came from";
  static override description =
    'Merges conf/base/<step>.yaml, conf/<env>/<step>.yaml and --set flags, validates with the step schema, and shows every key with the file and line that set it. ${env:NAME} references are shown, never resolved.';
  static override examples = [
    '<%= config.bin %> config train',
    '<%= config.bin %> config train --env ci',
    '<%= config.bin %> config train --set train.trees=500 --json',
  ];
  static override args = { step: Args.string({ description: 'Step name', required: true }) };
  static override flags = {
    env: envFlag,
    set: Flags.string({ char: 's', description: 'Override a value: step.key=value', multiple: true }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Config);
    const core = await import('@cairn/core');
    const runtime = await import('@cairn/runtime');
    const overrides = runtime.parseOverrides(flags.set ?? []);
    const { openProjectFor } = await import('../lib/project');
    const stack = await openProjectFor(flags);
    const projectDir = stack.projectDir;
    try {
      const pipelines = await stack.pipelines();
      const node = [...pipelines.values()].map((p) => p.node(args.step)).find(Boolean);
      if (!node) {
        const steps = [...new Set([...pipelines.values()].flatMap((p) => p.nodes.map((n) => n.name)))];
        throw new core.CairnError(core.ErrorCodes.USAGE, `Unknown step "${args.step}"`, {
          hint: steps.length
            ? `Steps in this project: ${steps.join(', ')}`
            : 'No pipelines found in pipelines/.',
        });
      }
      const explanation = await runtime.explainConfig({
        confDir: stack.confDir,
        env: flags.env,
        projectDir,
        overrides,
        step: args.step,
        schema: node.step.definition.config,
      });
      if (flags.json) return this.printJson(explanation);
      const { table } = await import('../lib/format');
      this.log(
        `Config of ${args.step} (env ${flags.env}); layers: ${explanation.layers.join(' → ') || 'none'}`,
      );
      if (explanation.entries.length > 0) {
        this.log(
          table(
            ['KEY', 'VALUE', 'FROM'],
            explanation.entries.map((e) => [
              e.key,
              JSON.stringify(e.value),
              `${e.source}${e.line ? `:${e.line}` : ''}`,
            ]),
          ),
        );
      } else this.log('(empty)');
      if (explanation.issues.length > 0) {
        throw new core.CairnError(core.ErrorCodes.CONFIG_INVALID, `The config of ${args.step} is invalid`, {
          issues: explanation.issues,
        });
      }
    } finally {
      await stack.close();
    }
  }
}
