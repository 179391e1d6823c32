/**
 * What `cairn run --sweep` prints when the grid is done: one row per run with
 * the values it was given and the metrics of the pipeline's metrics
 * artifacts (read as `cairn compare` reads them).
 */
import type { RunRecord } from '@cairn/core';
import type { SweepResult } from '@cairn/runtime';
import { table } from './format';
import type { OpenedProject } from './project';
import { formatValue, runMetrics } from './runs';

export interface SweepSummary {
  sweepId: string;
  /** The swept keys, in flag order. */
  keys: string[];
  /** Every metric any run recorded, sorted. */
  metrics: string[];
  runs: Array<{
    runId: string;
    status: string;
    params: Record<string, string>;
    metrics: Record<string, number>;
  }>;
  /** Combinations not run (the sweep was cancelled). */
  notRun: Array<Record<string, string>>;
}

export async function sweepSummary(
  stack: Pick<OpenedProject, 'metadata' | 'storage'>,
  sweep: SweepResult,
): Promise<SweepSummary> {
  const runs: SweepSummary['runs'] = [];
  for (const run of sweep.runs) {
    runs.push({
      runId: run.result.runId,
      status: run.result.status,
      params: run.params,
      metrics: await runMetrics(stack, { id: run.result.runId } as RunRecord),
    });
  }
  return {
    sweepId: sweep.sweepId,
    keys: sweep.axes.map((axis) => axis.key),
    metrics: [...new Set(runs.flatMap((run) => Object.keys(run.metrics)))].sort(),
    runs,
    notRun: sweep.notRun,
  };
}

export function renderSweep(summary: SweepSummary): string {
  const lines = [
    `Sweep ${summary.sweepId}: ${summary.runs.length} run${summary.runs.length === 1 ? '' : 's'}`,
    table(
      ['RUN', 'STATUS', ...summary.keys, ...summary.metrics],
      summary.runs.map((run) => [
        run.runId,
        run.status,
        ...summary.keys.map((key) => run.params[key] ?? ''),
        ...summary.metrics.map((name) => formatValue(run.metrics[name])),
      ]),
    ),
  ];
  if (summary.notRun.length > 0) lines.push(`${summary.notRun.length} combinations not run (cancelled).`);
  lines.push(`Compare them: cairn compare ${summary.runs.map((run) => run.runId).join(' ')}`);
  return lines.join('\n');
}
