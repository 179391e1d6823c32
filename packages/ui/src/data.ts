/**
 * What the pages read, through the metadata and storage contracts only:
 * pages of runs, a run with its steps and why each ran, configs, metrics,
 * artifacts, comparisons. Every list is bounded by a limit so that a store
 * with 100,000 executions answers a page as fast as a small one.
 */
import type {
  ArtifactRef,
  ExecutionRecord,
  MetadataStore,
  Pipeline,
  RunRecord,
  RunStatus,
  StorageDriver,
} from '@cairn/core';
import { changeSince } from '@cairn/runtime';

export interface Stores {
  metadata: MetadataStore;
  storage: StorageDriver;
}

export interface RunFilters {
  pipeline?: string;
  env?: string;
  status?: RunStatus;
  /** A prefix of the git commit. */
  commit?: string;
  /** `key=value` of the run's tags. */
  tag?: { key: string; value: string };
  before?: string;
  limit: number;
}

/** Filters the store cannot apply (commit, tag) are applied while paging through at most this many runs. */
export const SCAN_LIMIT = 20_000;
const SCAN_BATCH = 500;

export interface RunsPage {
  runs: RunRecord[];
  /** The cursor of the next (older) page, when there may be one. */
  next?: string;
  /** How many runs were read to fill the page, when a commit or tag filter had to scan. */
  scanned?: number;
  /** True when the scan stopped at SCAN_LIMIT before filling the page. */
  truncated?: boolean;
}

/** One page of runs, newest first. */
export async function runsPage(metadata: MetadataStore, filters: RunFilters): Promise<RunsPage> {
  const query = {
    ...(filters.pipeline ? { pipeline: filters.pipeline } : {}),
    ...(filters.env ? { env: filters.env } : {}),
    ...(filters.status ? { status: filters.status } : {}),
  };
  if (!filters.commit && !filters.tag) {
    // One more than asked tells whether an older page exists without counting.
    const runs = await metadata.listRuns({
      ...query,
      ...(filters.before ? { before: filters.before } : {}),
      limit: filters.limit + 1,
    });
    const page = runs.slice(0, filters.limit);
    return { runs: page, ...(runs.length > filters.limit ? { next: page.at(-1)!.id } : {}) };
  }
  const matches = (run: RunRecord) =>
    (!filters.commit || (run.git?.commit ?? '').startsWith(filters.commit)) &&
    (!filters.tag || run.tags?.[filters.tag.key] === filters.tag.value);
  const found: RunRecord[] = [];
  let before = filters.before;
  let scanned = 0;
  let exhausted = false;
  let lastSeen: string | undefined;
  while (found.length <= filters.limit && scanned < SCAN_LIMIT) {
    const batch = await metadata.listRuns({ ...query, ...(before ? { before } : {}), limit: SCAN_BATCH });
    for (const run of batch) {
      scanned++;
      lastSeen = run.id;
      if (matches(run)) {
        found.push(run);
        if (found.length > filters.limit) break;
      }
    }
    if (batch.length < SCAN_BATCH) {
      exhausted = true;
      break;
    }
    before = batch.at(-1)!.id;
  }
  const page = found.slice(0, filters.limit);
  const more = found.length > filters.limit;
  const truncated = !more && !exhausted && scanned >= SCAN_LIMIT;
  return {
    runs: page,
    scanned,
    ...(more ? { next: page.at(-1)!.id } : truncated && lastSeen ? { next: lastSeen } : {}),
    ...(truncated ? { truncated } : {}),
  };
}

/** Why a step ran, as `step.started` reports it; derived from what the store recorded. */
export type StepReason =
  | 'cached'
  | 'new'
  | 'config-changed'
  | 'input-changed'
  | 'code-changed'
  | 'forced or no-cache'
  | 'upstream-failed'
  | 'cancelled';

export type StepState = 'succeeded' | 'failed' | 'cached' | 'skipped' | 'cancelled' | 'running' | 'waiting';

export interface StepView {
  name: string;
  state: StepState;
  /** A {@link StepReason}, or the orchestrator's own words when it recorded them (`code-changed: src/x.ts`). */
  reason?: StepReason | (string & {});
  execution?: ExecutionRecord;
  /** Names of the steps whose outputs this one reads. */
  upstream: string[];
}

/**
 * The previous succeeded or cached execution of each step of a pipeline,
 * in the few runs before `run`: the same comparison the orchestrator makes
 * (`previousExecutions`) to say why a step ran.
 */
async function previousExecutions(
  metadata: MetadataStore,
  run: RunRecord,
  steps: number,
): Promise<Map<string, ExecutionRecord>> {
  const found = new Map<string, ExecutionRecord>();
  const runs = await metadata.listRuns({ pipeline: run.pipeline, before: run.id, limit: 5 });
  for (const earlier of runs) {
    if (found.size >= steps) break;
    for (const execution of await metadata.listExecutions(earlier.id)) {
      if (execution.status !== 'succeeded' && execution.status !== 'cached') continue;
      if (!found.has(execution.step)) found.set(execution.step, execution);
    }
  }
  return found;
}

/**
 * Why a step ran: the reason the orchestrator recorded with the execution, or
 * for executions recorded before it did, its miss rule (`changeSince`) again.
 */
export function reasonFor(
  execution: ExecutionRecord,
  previous: ExecutionRecord | undefined,
): StepReason | (string & {}) {
  const recorded = recordedReason(execution);
  if (recorded) return recorded;
  if (execution.status === 'cached') return 'cached';
  if (execution.status === 'skipped') return 'upstream-failed';
  if (execution.status === 'cancelled' && execution.attempts === 0) return 'cancelled';
  const changed = changeSince(previous, execution);
  // Same config, inputs and cache key: the step ran because it was forced or caching was off.
  if (changed === 'code-changed' && previous?.cacheKey === execution.cacheKey) return 'forced or no-cache';
  return changed;
}

/** `execution.reason` when the store recorded one: read through a cast, as the contract may not have it yet. */
export function recordedReason(execution: ExecutionRecord): string | undefined {
  const reason = (execution as ExecutionRecord & { reason?: unknown }).reason;
  return typeof reason === 'string' && reason.trim() !== '' ? reason.slice(0, 300) : undefined;
}

export interface RunView {
  run: RunRecord;
  steps: StepView[];
  edges: Array<{ from: string; to: string }>;
  /** True when the edges come from the pipeline's definition (else from recorded inputs). */
  definedGraph: boolean;
}

/**
 * A run with every step of its pipeline (the run's config digests name all
 * of them, including those not reached yet), each step's state and reason,
 * and the edges between steps: from the pipeline definition when the project
 * still has one with the same steps, else from recorded artifact digests.
 */
export async function runView(
  metadata: MetadataStore,
  run: RunRecord,
  pipelines?: ReadonlyMap<string, Pipeline>,
): Promise<RunView> {
  const executions = await metadata.listExecutions(run.id);
  const names = Object.keys(run.configs ?? {});
  for (const e of executions) if (!names.includes(e.step)) names.push(e.step);
  const latest = new Map<string, ExecutionRecord>();
  for (const e of executions) latest.set(e.step, e);

  const edges: Array<{ from: string; to: string }> = [];
  const definition = pipelines?.get(run.pipeline);
  const sameSteps =
    definition !== undefined &&
    definition.nodes.length === names.length &&
    definition.nodes.every((n) => latest.has(n.name) || names.includes(n.name));
  if (definition && sameSteps) {
    for (const node of definition.nodes) {
      for (const from of new Set(Object.values(node.inputs).map((w) => w.node)))
        edges.push({ from, to: node.name });
    }
  } else {
    const producer = new Map<string, string>();
    for (const e of executions) for (const ref of Object.values(e.outputs)) producer.set(ref.digest, e.step);
    for (const e of executions) {
      const from = new Set<string>();
      for (const ref of Object.values(e.inputs)) {
        const step = producer.get(ref.digest);
        if (step && step !== e.step) from.add(step);
      }
      for (const f of from) edges.push({ from: f, to: e.step });
    }
  }
  const upstream = new Map<string, string[]>();
  for (const edge of edges) upstream.set(edge.to, [...(upstream.get(edge.to) ?? []), edge.from]);

  // Earlier runs are read only for executions that did not record why they ran.
  const ranSteps = executions.filter(
    (e) => e.status !== 'cached' && e.status !== 'skipped' && !recordedReason(e),
  ).length;
  const previous = ranSteps > 0 ? await previousExecutions(metadata, run, names.length) : new Map();
  const steps: StepView[] = names.map((name) => {
    const execution = latest.get(name);
    const ups = upstream.get(name) ?? [];
    if (execution) {
      return {
        name,
        state: execution.status,
        reason: reasonFor(execution, previous.get(name)),
        execution,
        upstream: ups,
      };
    }
    // Not recorded yet: while the run goes, a step whose producers are all done is running (or queued for a slot).
    const ready = ups.every((u) => {
      const s = latest.get(u)?.status;
      return s === 'succeeded' || s === 'cached';
    });
    // Without the pipeline's definition the edges of unrecorded steps are unknown: say waiting, not running.
    const known = Boolean(definition && sameSteps);
    const state: StepState =
      run.status === 'running' ? (ready && known ? 'running' : 'waiting') : 'cancelled';
    return { name, state, upstream: ups };
  });
  return { run, steps, edges, definedGraph: Boolean(definition && sameSteps) };
}

/** Read a small stored artifact (a config bundle, metrics, a json) as JSON; `maxBytes` bounds what is read. */
export async function readJson(
  storage: StorageDriver,
  digest: string,
  maxBytes = 4 * 1024 * 1024,
): Promise<unknown> {
  const bytes = await readBytes(storage, digest, maxBytes);
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** The first `maxBytes` of an artifact. */
export async function readBytes(
  storage: StorageDriver,
  digest: string,
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of await storage.get(digest)) {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes);
}

/** The run's resolved step configs (secrets still `${env:…}` references), per step. */
export async function runConfigs(storage: StorageDriver, run: RunRecord): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (run.configBundle) {
    const bundle = (await readJson(storage, run.configBundle).catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    for (const step of Object.keys(run.configs ?? {})) out[step] = bundle?.[step];
    return out;
  }
  for (const [step, digest] of Object.entries(run.configs ?? {})) {
    out[step] = await readJson(storage, digest).catch(() => undefined);
  }
  return out;
}

/** Every metrics output of a run, flattened as `step.name` (`step.output.name` when the output is not `metrics`). */
export async function runMetrics(stores: Stores, run: RunRecord): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of await stores.metadata.listExecutions(run.id)) {
    for (const [output, ref] of Object.entries(e.outputs)) {
      if (ref.type !== 'metrics') continue;
      const values = (await readJson(stores.storage, ref.digest).catch(() => ({}))) as Record<
        string,
        unknown
      >;
      const prefix = output === 'metrics' ? e.step : `${e.step}.${output}`;
      for (const [name, value] of Object.entries(values))
        if (typeof value === 'number') out[`${prefix}.${name}`] = value;
    }
  }
  return out;
}

/** A nested config as `key.path → value` (arrays and scalars are leaves). */
export function flatten(value: unknown, prefix = ''): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return prefix ? { [prefix]: value } : {};
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0 && prefix) return { [prefix]: {} };
  for (const [key, inner] of entries) Object.assign(out, flatten(inner, prefix ? `${prefix}.${key}` : key));
  return out;
}

export interface Comparison {
  runs: RunRecord[];
  /** Only the config keys whose values differ between the runs. */
  configs: Array<{ step: string; key: string; values: unknown[] }>;
  /** How many config keys are equal in every run (not shown). */
  sameKeys: number;
  metrics: Array<{ name: string; values: Array<number | undefined> }>;
}

/** Runs side by side: the config keys that differ, every metric. */
export async function compareRuns(stores: Stores, runs: RunRecord[]): Promise<Comparison> {
  const configs = await Promise.all(runs.map((r) => runConfigs(stores.storage, r)));
  const metrics = await Promise.all(runs.map((r) => runMetrics(stores, r)));
  const steps = [...new Set(configs.flatMap((c) => Object.keys(c)))];
  const rows: Comparison['configs'] = [];
  let sameKeys = 0;
  for (const step of steps) {
    const flat = configs.map((c) => flatten(c[step]));
    for (const key of [...new Set(flat.flatMap((f) => Object.keys(f)))]) {
      const values = flat.map((f) => f[key]);
      const same = values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]));
      if (same) sameKeys++;
      else rows.push({ step, key, values });
    }
  }
  const names = [...new Set(metrics.flatMap((m) => Object.keys(m)))].sort();
  return {
    runs,
    configs: rows,
    sameKeys,
    metrics: names.map((name) => ({ name, values: metrics.map((m) => m[name]) })),
  };
}

/** Outputs of a run's executions, for the artifact lists of a step. */
export function outputsOf(execution: ExecutionRecord): Array<{ name: string; ref: ArtifactRef }> {
  return Object.entries(execution.outputs).map(([name, ref]) => ({ name, ref }));
}
