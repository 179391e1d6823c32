import { Args } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class ExperimentsShow extends CairnCommand {
  static override summary = "An experiment's analysis: exposures, sample-ratio check, metrics, decision";
  static override description =
    'Per variant: exposed units and the mean of the primary metric (and of each guardrail); per treatment against the control: the difference with its confidence interval, the fixed-horizon p-value, the always-valid sequential p-value (safe to read at any time), the probability to be better, and the verdict. Then the decision and why. A sample-ratio mismatch makes the decision "invalid" whatever the metrics say.';
  static override examples = [
    '<%= config.bin %> experiments show ranker-v4',
    '<%= config.bin %> experiments show ranker-v4 --json',
  ];
  static override args = { name: Args.string({ description: 'Experiment name', required: true }) };
  static override flags = { env: envFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExperimentsShow);
    const delivery = await import('../../lib/delivery');
    const { experiment, analysis } = await delivery.withAbTest(flags, async (engine) => {
      const experiment = await delivery.requireExperiment(engine, args.name);
      return { experiment, analysis: await engine.analyze(args.name) };
    });
    if (flags.json) return this.printJson(analysis);
    if (experiment.status === 'concluded') {
      this.log(
        `Concluded ${delivery.formatTime(experiment.concludedAt)}: winner ${experiment.winner}${experiment.reason ? ` — ${experiment.reason}` : ''}`,
      );
    }
    this.log(delivery.formatAnalysis(analysis, experiment.alpha ?? 0.05));
  }
}
