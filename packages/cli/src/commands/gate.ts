import { Args } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Gate extends CairnCommand {
  static override summary =
    "Check a run's promotion-gate decision: a Markdown summary, and exit 1 when it fails CI";
  static override description =
    "Reads the decision the run's gate step wrote (promotionGateStep() from @cairn/delivery) and writes a Markdown summary of the metrics and the decision: appended to $GITHUB_STEP_SUMMARY when that is set (GitHub Actions shows it on the job page), printed otherwise. Exits 1 when the candidate is worse than production by more than the gate's allowedRegression (`failsCi`), 0 when it was promoted or kept within the margin. This is the evaluation gate of `npm run ci`.";
  static override examples = [
    '<%= config.bin %> gate                      # the latest run',
    '<%= config.bin %> gate r_0mwyul89y00008cfa59e5',
    'GITHUB_STEP_SUMMARY=summary.md <%= config.bin %> gate latest',
    '<%= config.bin %> gate latest --json',
  ];
  static override args = {
    run: Args.string({
      description: 'Run id, a unique prefix of one, latest or latest~N',
      default: 'latest',
    }),
  };
  static override flags = { json: jsonFlag, env: envFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Gate);
    const { withProject } = await import('../lib/inspect');
    const { resolveRun, runSummaryMarkdown } = await import('../lib/runs');
    const { usageError } = await import('../lib/errors');
    const result = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
      const run = await resolveRun(stack, args.run);
      const summary = await runSummaryMarkdown(stack, run);
      if (!summary.decision) {
        const executions = await stack.metadata.listExecutions(run.id);
        const failed = executions.find((e) => e.status === 'failed');
        if (failed || run.status !== 'succeeded') {
          // The run stopped before its gate: saying "add a gate step" would send the user the wrong way.
          const error = failed?.error?.message ?? run.error;
          const why = failed
            ? `step ${failed.step} failed${error ? `: ${error}` : ''}`
            : `the run ${run.status}${error ? `: ${error}` : ''}`;
          throw usageError(`The gate did not run in run ${run.id}: ${why}`, {
            code: 'CAIRN_METADATA_NOT_FOUND',
            hint: `Fix ${failed ? `step ${failed.step}` : 'the run'} and run again (\`cairn runs show ${run.id}\` shows every step); the gate decides only after the steps before it succeed.`,
          });
        }
        throw usageError(`Run ${run.id} has no promotion-gate decision: its pipeline has no gate step`, {
          code: 'CAIRN_METADATA_NOT_FOUND',
          hint: 'Add a gate step (promotionGateStep() from @cairn/delivery) after register.',
        });
      }
      return { run, ...summary, decision: summary.decision };
    });
    const { decision, markdown, run } = result;
    if (flags.json) {
      this.printJson({ run: run.id, decision, failsCi: decision.failsCi });
    } else {
      const target = process.env.GITHUB_STEP_SUMMARY;
      if (target) {
        const { appendFile } = await import('node:fs/promises');
        await appendFile(target, `${markdown}\n`);
        this.log(`Gate summary of ${run.id} written to $GITHUB_STEP_SUMMARY (${target})`);
      } else {
        this.log(markdown.trimEnd());
      }
    }
    if (decision.failsCi) {
      this.logToStderr(
        `✖ gate: ${decision.model} v${decision.candidate.version} is worse than production beyond the allowed margin: ${decision.reason}`,
      );
      this.exit(1);
    }
  }
}
