/**
 * Sweeps: `cairn run --sweep train.trees=100,300 --sweep train.maxDepth=3,5`
 * runs the grid, one run per combination, each tagged with the sweep's id.
 * Every combination's configs are resolved and validated before the first
 * run starts, so a bad value refuses the whole sweep with nothing recorded.
 * The runs go one after the other through the ordinary cache, so a step that
 * no swept key reaches (ingest, prepare…) executes once and is reused after.
 */
import { CairnError, ErrorCodes, type ErrorIssue, type Pipeline } from '@cairn/core';
import { newId } from './ids';
import { prepareRun } from './prepare';
import { runPipeline } from './run';
import type { RunOptions, RunResult } from './types';

/** One swept key and the values it takes. */
export interface SweepAxis {
  /** `step.key.path`, as `--set` takes it. */
  key: string;
  /** The values as typed (YAML), in order. */
  values: string[];
}

/** One run of a sweep: the values it was given and what the run returned. */
export interface SweepRun {
  /** Swept key → value as typed, e.g. `{ 'train.trees': '100' }`. */
  params: Record<string, string>;
  result: RunResult;
}

export interface SweepResult {
  sweepId: string;
  axes: SweepAxis[];
  runs: SweepRun[];
  /** Combinations not run because the sweep was cancelled. */
  notRun: Array<Record<string, string>>;
}

/**
 * Parse `--sweep step.key=v1,v2,…` flags. Values are split at top-level
 * commas (a YAML list or object value keeps its own commas: `[1,2],[3]`).
 * @throws CAIRN_USAGE for a flag without `=`, a key swept twice, or fewer than one value
 */
export function parseSweeps(flags: readonly string[]): SweepAxis[] {
  const issues: ErrorIssue[] = [];
  const axes: SweepAxis[] = [];
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    const key = equals < 0 ? '' : flag.slice(0, equals).trim();
    if (equals < 0 || !/^[^.=\s]+\.[^=\s]+$/.test(key)) {
      issues.push({
        source: '--sweep',
        message: `"${flag}": expected step.key=value1,value2, e.g. train.trees=100,300`,
      });
      continue;
    }
    const values = splitTopLevel(flag.slice(equals + 1)).map((value) => value.trim());
    if (values.some((value) => value === '')) {
      issues.push({ source: '--sweep', message: `"${key}": an empty value in "${flag.slice(equals + 1)}"` });
      continue;
    }
    if (axes.some((axis) => axis.key === key)) {
      issues.push({ source: '--sweep', message: `"${key}" is swept twice: give all its values in one flag` });
      continue;
    }
    axes.push({ key, values: [...new Set(values)] });
  }
  if (issues.length > 0) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `Invalid --sweep: ${issues.map((issue) => issue.message).join('; ')}`,
      { issues },
    );
  }
  return axes;
}

/** Every combination of the axes' values, the first axis varying slowest. */
export function sweepGrid(axes: readonly SweepAxis[]): Array<Record<string, string>> {
  let grid: Array<Record<string, string>> = [{}];
  for (const axis of axes)
    grid = grid.flatMap((point) => axis.values.map((value) => ({ ...point, [axis.key]: value })));
  return axes.length === 0 ? [] : grid;
}

/**
 * Run the grid of `sweep` over `pipeline`, after validating every
 * combination's configs. `options.overrides` must be the raw `--set` flags
 * (strings): each run gets them plus its combination's values; a key both
 * set and swept is refused.
 *
 * @example
 * ```ts
 * const sweep = await runSweep(training, { ...project.runOptions(), overrides: [] }, ['train.trees=50,100']);
 * for (const run of sweep.runs) console.log(run.params, run.result.status);
 * ```
 */
export async function runSweep(
  pipeline: Pipeline,
  options: RunOptions & { overrides?: string[] },
  sweep: readonly string[] | readonly SweepAxis[],
): Promise<SweepResult> {
  const axes =
    sweep.length > 0 && typeof sweep[0] === 'string'
      ? parseSweeps(sweep as string[])
      : (sweep as SweepAxis[]);
  if (axes.length === 0)
    throw new CairnError(ErrorCodes.USAGE, 'A sweep needs at least one --sweep step.key=v1,v2');
  const set = options.overrides ?? [];
  const both = axes.filter((axis) => set.some((flag) => flag.split('=')[0]!.trim() === axis.key));
  if (both.length > 0) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `${both.map((axis) => `"${axis.key}"`).join(', ')} is both --set and --sweep: keep one`,
    );
  }
  const grid = sweepGrid(axes);
  const overridesOf = (point: Record<string, string>) => [
    ...set,
    ...Object.entries(point).map(([key, value]) => `${key}=${value}`),
  ];
  // Every combination is checked before the first runs: a wrong type in the last value must not cost the first runs.
  for (const point of grid) await prepareRun(pipeline, { ...options, overrides: overridesOf(point) });

  const sweepId = newId('s');
  const runs: SweepRun[] = [];
  const notRun: Array<Record<string, string>> = [];
  for (const point of grid) {
    if (options.signal?.aborted) {
      notRun.push(point);
      continue;
    }
    const result = await runPipeline(pipeline, {
      ...options,
      overrides: overridesOf(point),
      tags: {
        ...options.tags,
        sweep: sweepId,
        params: Object.entries(point)
          .map(([key, value]) => `${key}=${value}`)
          .join(' '),
      },
    });
    runs.push({ params: point, result });
  }
  return { sweepId, axes, runs, notRun };
}

/** Split at commas outside brackets, braces and quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '[' || char === '{') depth++;
    else if (char === ']' || char === '}') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
