import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../../lib/base';

export default class ExperimentsConclude extends CairnCommand {
  static override summary = 'End an experiment: from now on every unit gets the winner';
  static override examples = [
    '<%= config.bin %> experiments conclude ranker-v4 --winner v4 --reason "ship: +2.1 % clicks, guardrails flat"',
    '<%= config.bin %> experiments conclude ranker-v4 --winner control --reason "no effect after 4 weeks"',
  ];
  static override args = { name: Args.string({ description: 'Experiment name', required: true }) };
  static override flags = {
    env: envFlag,
    winner: Flags.string({ description: 'The variant every unit gets from now on', required: true }),
    reason: Flags.string({ char: 'r', description: 'Why (stored with the experiment)', required: true }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExperimentsConclude);
    const delivery = await import('../../lib/delivery');
    const experiment = await delivery.withAbTest(flags, async (engine) => {
      await delivery.requireExperiment(engine, args.name);
      return engine.conclude(args.name, { winner: flags.winner, reason: flags.reason });
    });
    if (flags.json) return this.printJson(experiment);
    this.log(`${experiment.name} concluded: winner ${experiment.winner} (${experiment.reason})`);
  }
}
