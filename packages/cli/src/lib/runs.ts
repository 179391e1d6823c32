/**
 * What `cairn gate`, `cairn report` and `cairn compare` read from a run:
 * the run itself (by id, prefix or `latest`), its resolved step configs, its
 * metrics, its reports and its promotion-gate decision.
 */
import type { ArtifactRef, ExecutionRecord, RunRecord } from '@cairn/core';
import type { GateDecision } from '@cairn/delivery';
import { usageError } from './errors';
import { readJsonArtifact } from './inspect';
import type { OpenedProject } from './project';

/**
 * The run `value` names: a full id, a unique prefix of one, `latest`, or
 * `latest~N` (the N-th run before the latest).
 * @throws CAIRN_METADATA_NOT_FOUND (exit 2) when no run matches, naming the value
 */
export async function resolveRun(stack: Pick<OpenedProject, 'metadata'>, value: string): Promise<RunRecord> {
  const { metadata } = stack;
  const notFound = (message: string) =>
    usageError(message, { code: 'CAIRN_METADATA_NOT_FOUND', hint: 'List runs with `cairn runs`.' });
  const latest = /^latest(?:~(\d+))?$/.exec(value);
  if (latest) {
    const back = Number(latest[1] ?? 0);
    const runs = await metadata.listRuns({ limit: back + 1 });
    const run = runs[back];
    if (!run)
      throw notFound(
        back === 0 ? 'No run yet: nothing to show' : `No run "${value}": only ${runs.length} runs recorded`,
      );
    return run;
  }
  const exact = await metadata.getRun(value);
  if (exact) return exact;
  if (/^r_[0-9a-z]{2,}$/i.test(value)) {
    const matches = (await metadata.listRuns({ limit: 100_000 })).filter((r) => r.id.startsWith(value));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw usageError(`"${value}" is ambiguous: ${matches.length} runs start with it`, {
        code: 'CAIRN_METADATA_NOT_FOUND',
        hint: 'Give more characters of the run id.',
      });
    }
  }
  throw notFound(`No run "${value}" in this project's metadata store`);
}

/** One output of one step of a run. */
export interface RunOutput {
  step: string;
  output: string;
  ref: ArtifactRef;
  execution: ExecutionRecord;
}

/** Every output of the run's executions, in execution order. */
export async function runOutputs(
  stack: Pick<OpenedProject, 'metadata'>,
  run: RunRecord,
): Promise<RunOutput[]> {
  const executions = await stack.metadata.listExecutions(run.id);
  return executions.flatMap((execution) =>
    Object.entries(execution.outputs).map(([output, ref]) => ({
      step: execution.step,
      output,
      ref,
      execution,
    })),
  );
}

/** The run's metrics artifacts, flattened: `evaluate.macro_f1` (`step.output.name` when the output is not `metrics`). */
export async function runMetrics(
  stack: Pick<OpenedProject, 'metadata' | 'storage'>,
  run: RunRecord,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const item of await runOutputs(stack, run)) {
    if (item.ref.type !== 'metrics') continue;
    const values = (await readJsonArtifact(stack.storage, item.ref.digest).catch(() => ({}))) as Record<
      string,
      unknown
    >;
    const prefix = item.output === 'metrics' ? item.step : `${item.step}.${item.output}`;
    for (const [name, value] of Object.entries(values)) {
      if (typeof value === 'number') out[`${prefix}.${name}`] = value;
    }
  }
  return out;
}

/**
 * The run's resolved step configs, per step: from the run's config bundle (one
 * json artifact holding every step's config), or, for runs recorded before
 * bundles, from one json artifact per step.
 */
export async function runConfigs(
  stack: Pick<OpenedProject, 'storage'>,
  run: RunRecord,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (run.configBundle) {
    const bundle = (await readJsonArtifact(stack.storage, run.configBundle).catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    for (const step of Object.keys(run.configs ?? {})) {
      out[step] = bundle && step in bundle ? bundle[step] : { unreadable: run.configBundle };
    }
    return out;
  }
  for (const [step, digest] of Object.entries(run.configs ?? {})) {
    out[step] = await readJsonArtifact(stack.storage, digest).catch(() => ({ unreadable: digest }));
  }
  return out;
}

const isDecision = (value: unknown): value is GateDecision =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as GateDecision).failsCi === 'boolean' &&
  typeof (value as GateDecision).model === 'string' &&
  typeof (value as GateDecision).candidate?.version === 'number';

/** The run's promotion-gate decision (a json output shaped like `GateDecision`), if its gate ran. */
async function findGateDecision(
  stack: Pick<OpenedProject, 'metadata' | 'storage'>,
  run: RunRecord,
): Promise<{ step: string; decision: GateDecision } | undefined> {
  const candidates = (await runOutputs(stack, run)).filter((o) => o.ref.type === 'json');
  // The gate step's output is called `decision`: look there first, then anywhere.
  candidates.sort((a, b) => Number(b.output === 'decision') - Number(a.output === 'decision'));
  for (const item of candidates) {
    const value = await readJsonArtifact(stack.storage, item.ref.digest).catch(() => undefined);
    if (isDecision(value)) return { step: item.step, decision: value };
  }
  return undefined;
}

/**
 * The Markdown summary of a run for CI: the gate decision with the
 * candidate's registered metrics (`gateSummaryMarkdown` from the core), or,
 * for a run without a gate, its metrics as a table.
 */
export async function runSummaryMarkdown(
  stack: Pick<OpenedProject, 'metadata' | 'storage'>,
  run: RunRecord,
): Promise<{ markdown: string; decision?: GateDecision }> {
  const { gateSummaryMarkdown } = await import('@cairn/delivery');
  const about = `Run \`${run.id}\` · pipeline ${run.pipeline} · env ${run.env} · ${run.status}${run.git ? ` · commit ${run.git.commit.slice(0, 10)}${run.git.dirty ? ' (dirty)' : ''}` : ''}`;
  const found = await findGateDecision(stack, run);
  if (found) {
    const version = await stack.metadata.getModelVersion(
      found.decision.model,
      found.decision.candidate.version,
    );
    const metrics = version?.metrics ?? {};
    return {
      markdown: `${gateSummaryMarkdown(found.decision, metrics)}\n${about}\n`,
      decision: found.decision,
    };
  }
  const metrics = await runMetrics(stack, run);
  const rows = Object.entries(metrics).map(([name, value]) => `| ${name} | ${formatValue(value)} |`);
  const lines = [
    `## Run ${run.id}: ${run.status}`,
    '',
    rows.length > 0 ? '| metric | value |\n| --- | --- |' : '_No metrics recorded._',
    ...rows,
    '',
    'No promotion gate ran in this run.',
    '',
    about,
  ];
  return { markdown: `${lines.join('\n')}\n` };
}

export const formatValue = (value: unknown): string =>
  typeof value === 'number'
    ? Number.isInteger(value)
      ? String(value)
      : value.toFixed(4)
    : value === undefined
      ? '—'
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);

/** A nested config as `key.path → value` (arrays and scalars are leaves). */
export function flattenConfig(value: unknown, prefix = ''): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return prefix ? { [prefix]: value } : {};
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0 && prefix) return { [prefix]: {} };
  const out: Record<string, unknown> = {};
  for (const [key, inner] of entries)
    Object.assign(out, flattenConfig(inner, prefix ? `${prefix}.${key}` : key));
  return out;
}
