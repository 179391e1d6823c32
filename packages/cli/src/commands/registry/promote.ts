import { Args, Flags } from '@oclif/core';
import { CairnCommand, jsonFlag } from '../../lib/base';

export default class RegistryPromote extends CairnCommand {
  static override summary = 'Move a model version to a stage, recording who and why';
  static override description =
    'Promoting to production (or staging) archives the version that was there, in the same transaction. A promotion that loses a race is refused (CAIRN_REGISTRY_CONFLICT) and still recorded in the history.';
  static override examples = [
    '<%= config.bin %> registry promote penguins 3 --stage production --reason "beats v2 on accuracy"',
    '<%= config.bin %> registry promote penguins 2 --stage archived --reason "superseded"',
  ];
  static override args = {
    model: Args.string({ description: 'Model name', required: true }),
    version: Args.integer({ description: 'Version number', required: true, min: 1 }),
  };
  static override flags = {
    stage: Flags.string({
      description: 'Target stage',
      options: ['staging', 'production', 'archived', 'none'],
      required: true,
    }),
    reason: Flags.string({ char: 'r', description: 'Why (stored in the history)', required: true }),
    actor: Flags.string({ description: 'Who (default: $USER)' }),
    from: Flags.string({
      description: 'Refuse unless the version is in this stage now',
      options: ['none', 'staging', 'production', 'archived'],
    }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RegistryPromote);
    const { withProject } = await import('../../lib/inspect');
    const { userInfo } = await import('node:os');
    const actor = flags.actor ?? process.env.USER ?? userInfo().username;
    const transition = await withProject({ project: flags.project }, ({ metadata }) =>
      metadata.transitionStage({
        model: args.model,
        version: args.version,
        to: flags.stage as 'production',
        reason: flags.reason,
        actor,
        ...(flags.from ? { expectedFrom: flags.from as 'none' } : {}),
      }),
    );
    if (flags.json) return this.printJson(transition);
    this.log(
      `${transition.model} v${transition.version}: ${transition.from} → ${transition.to} (${transition.actor}: ${transition.reason})`,
    );
  }
}
