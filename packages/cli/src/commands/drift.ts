import { Args } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

type DriftReport = import('@cairn/tabular').DriftReport;
type DriftColumn = DriftReport['columns'][number];

/** How many runs back `cairn drift latest` looks for one with a drift report. */
const SEARCH_RUNS = 1000;

export default class Drift extends CairnCommand {
  static override summary =
    "Check a run's drift report: a table per column, a Markdown summary, and exit 1 when the data drifted";
  static override description =
    'Reads the `drift` output of the drift step (driftStep() from @cairn/tabular) of the latest run that has one, or of the run given, and prints per column its PSI, p-value and whether it drifted. The Markdown summary is appended to $GITHUB_STEP_SUMMARY when that is set (GitHub Actions shows it on the job page), printed otherwise. Exit codes: 0 no drift, 1 drift detected (retrain), 2 no drift report (the run has no drift step, or it did not run).';
  static override examples = [
    '<%= config.bin %> drift                      # the latest run with a drift report',
    '<%= config.bin %> drift r_0mwyul89y00008cfa59e5',
    'GITHUB_STEP_SUMMARY=summary.md <%= config.bin %> drift latest',
    '<%= config.bin %> drift latest --json',
    '<%= config.bin %> run monitoring && <%= config.bin %> drift || npm run retrain   # see the project README',
  ];
  static override args = {
    run: Args.string({
      description: 'Run id, a unique prefix of one, latest (the latest run with a drift report) or latest~N',
      default: 'latest',
    }),
  };
  static override flags = { json: jsonFlag, env: envFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Drift);
    const { withProject, readJsonArtifact } = await import('../lib/inspect');
    const { resolveRun, runOutputs } = await import('../lib/runs');
    const { usageError } = await import('../lib/errors');
    const { isDriftReport } = await import('@cairn/tabular');
    const found = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
      const find = async (run: Awaited<ReturnType<typeof resolveRun>>) => {
        const candidates = (await runOutputs(stack, run)).filter((o) => o.ref.type === 'json');
        // The drift step's output is called `drift`: look there first, then anywhere.
        candidates.sort((a, b) => Number(b.output === 'drift') - Number(a.output === 'drift'));
        for (const item of candidates) {
          const value = await readJsonArtifact(stack.storage, item.ref.digest).catch(() => undefined);
          if (isDriftReport(value)) return { run, step: item.step, output: item.output, report: value };
        }
        return undefined;
      };
      if (args.run === 'latest') {
        const runs = await stack.metadata.listRuns({ limit: SEARCH_RUNS });
        for (const [newer, run] of runs.entries()) {
          const hit = await find(run);
          if (hit) return { ...hit, newer };
        }
        throw usageError(
          runs.length === 0
            ? 'No run yet: nothing to check for drift'
            : `None of the last ${runs.length} runs has a drift report`,
          {
            code: 'CAIRN_METADATA_NOT_FOUND',
            hint: 'Run a pipeline with a drift step (driftStep() from @cairn/tabular), e.g. `cairn run monitoring`.',
          },
        );
      }
      const run = await resolveRun(stack, args.run);
      const hit = await find(run);
      if (!hit) {
        const failed = (await stack.metadata.listExecutions(run.id)).find((e) => e.status === 'failed');
        throw usageError(
          `Run ${run.id} (pipeline ${run.pipeline}) has no drift report${failed ? `: it failed at step ${failed.step} before the drift step ran` : run.status !== 'succeeded' ? ` (the run ${run.status})` : ': its pipeline has no drift step'}`,
          {
            code: 'CAIRN_METADATA_NOT_FOUND',
            hint: 'Run a pipeline with a drift step (driftStep() from @cairn/tabular), or leave out the run to use the latest one that has a drift report.',
          },
        );
      }
      return { ...hit, newer: 0 };
    });

    const { run, step, report } = found;
    if (flags.json) {
      this.printJson({
        run: run.id,
        pipeline: run.pipeline,
        step,
        drifted: report.drifted,
        summary: report.summary,
        driftedColumns: report.driftedColumns,
        report,
      });
    } else {
      const { table } = await import('../lib/format');
      const where = `Run ${run.id} · pipeline ${run.pipeline} · step ${step}${found.newer > 0 ? ` (the latest run with a drift report; ${found.newer} newer run${found.newer === 1 ? ' has' : 's have'} none)` : ''}`;
      const markdown = driftMarkdown(report, run, step);
      const target = process.env.GITHUB_STEP_SUMMARY;
      if (target) {
        const { appendFile } = await import('node:fs/promises');
        await appendFile(target, `${markdown}\n`);
        this.log(where);
        this.log(
          table(
            ['column', 'PSI', 'p-value', 'drifted'],
            report.columns.map((c) => [c.column, number(c.psi), pValue(c), verdict(c)]),
          ),
        );
        this.log(`\n${report.summary}`);
        this.log(`Drift summary written to $GITHUB_STEP_SUMMARY (${target})`);
      } else {
        this.log(markdown.trimEnd());
        if (found.newer > 0) this.log(`\n${where}`);
      }
      this.log(`The report with a chart per column: cairn report ${run.id} --step ${step} --open`);
    }
    if (report.drifted) {
      this.logToStderr(`✖ drift: ${report.summary}`);
      this.exit(1);
    }
  }
}

const number = (value: number | null | undefined) => {
  if (value === null || value === undefined) return '—';
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
};
/** How each of detectDrift's tests is named in a table. */
const TEST_NAMES: Record<NonNullable<DriftColumn['test']>, string> = {
  ks: 'KS',
  'chi-square': 'χ²',
  z: 'z',
  jensenshannon: 'JS distance',
  wasserstein: 'Wasserstein',
};
const pValue = (c: DriftColumn) =>
  c.pValue === null
    ? c.test && c.statistic !== null
      ? `${TEST_NAMES[c.test]} ${number(c.statistic)}`
      : '—'
    : `${number(c.pValue)} (${c.test ? TEST_NAMES[c.test] : '?'})`;
const verdict = (c: DriftColumn) =>
  c.drifted ? 'yes' : c.skipped ? 'skipped' : c.judged ? 'no' : 'not judged';

/** The Markdown a CI job page shows: the verdict, one row per column with its reasons, the thresholds. */
function driftMarkdown(
  report: DriftReport,
  run: { id: string; pipeline: string; env: string; status: string },
  step: string,
): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return [
    `## Data drift: ${report.drifted ? `❌ drift in ${report.driftedColumns.length} of ${report.columns.length} columns` : '✅ no drift'}`,
    '',
    `${report.summary}.`,
    '',
    '| column | PSI | p-value | drifted | why |',
    '| --- | --- | --- | --- | --- |',
    ...report.columns.map(
      (c) =>
        `| ${cell(c.column)} | ${number(c.psi)} | ${pValue(c)} | ${c.drifted ? '**yes**' : verdict(c)} | ${cell(c.drifted ? c.reasons.join('; ') : (c.skipped ?? c.note ?? ''))} |`,
    ),
    '',
    `A column drifts when its PSI reaches ${report.thresholds.psi} or its p-value is below ${report.thresholds.pValue}, with at least ${report.thresholds.minRows} values on both sides.`,
    '',
    `Run \`${run.id}\` · pipeline ${run.pipeline} · env ${run.env} · ${run.status} · step ${step}`,
    '',
  ].join('\n');
}
