import {
  type ArtifactRecord,
  assertDigest,
  CairnError,
  ErrorCodes,
  type ExecutionRecord,
  isDigest,
  type LineageGraph,
  type RegisterModelInput,
  type RunRecord,
  type TransitionInput,
} from '@cairn/core';

const STAGES = new Set(['none', 'staging', 'production', 'archived']);

function invalid(message: string): CairnError {
  return new CairnError(ErrorCodes.METADATA_FAILED, message);
}

function checkId(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${what} must be a non-empty string`);
}

export function validateRunRecord(run: RunRecord): void {
  checkId(run?.id, 'run id');
  checkId(run.pipeline, `run "${run.id}": pipeline`);
  for (const [step, digest] of Object.entries(run.configs ?? {}))
    assertDigest(digest, `config digest of step "${step}"`);
  if (run.configBundle !== undefined) assertDigest(run.configBundle, `run "${run.id}": config bundle digest`);
  if (run.lease !== undefined) validateLease(run.lease);
}

/**
 * Lease times are compared as strings by every store (SQL `<` on text), so
 * they must all have the one shape `Date#toISOString()` writes.
 */
function checkTime(value: unknown, what: string): void {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value)) || new Date(value).toISOString() !== value)
    throw invalid(
      `${what} must be an ISO-8601 UTC time as toISOString() writes it, got ${JSON.stringify(value)}`,
    );
}

/** Refuse a malformed lease before it is stored. */
export function validateLease(lease: { heartbeatAt: string; expiresAt: string }): void {
  checkTime(lease?.heartbeatAt, 'lease heartbeatAt');
  checkTime(lease.expiresAt, 'lease expiresAt');
}

/** Refuse a malformed `abandonRun` mark before anything is written. */
export function validateAbandonMark(mark: { finishedAt: string; error: string; expiredBy?: string }): void {
  checkTime(mark?.finishedAt, 'finishedAt');
  if (typeof mark.error !== 'string') throw invalid('error must be a string');
  if (mark.expiredBy !== undefined) checkTime(mark.expiredBy, 'expiredBy');
}

/**
 * Refuse a malformed execution before anything is written. Called for every
 * recorded execution: a message is built only for a value that is refused.
 */
export function validateExecutionRecord(execution: ExecutionRecord, artifacts: ArtifactRecord[]): void {
  checkId(execution?.id, 'execution id');
  if (typeof execution.runId !== 'string' || execution.runId.length === 0)
    checkId(execution.runId, `execution "${execution.id}": runId`);
  if (typeof execution.step !== 'string' || execution.step.length === 0)
    checkId(execution.step, `execution "${execution.id}": step`);
  if (typeof execution.cacheKey !== 'string')
    throw invalid(`execution "${execution.id}": cacheKey must be a string`);
  for (const [role, refs] of [
    ['input', execution.inputs],
    ['output', execution.outputs],
  ] as const) {
    if (!refs) continue;
    for (const name in refs) {
      if (!Object.hasOwn(refs, name)) continue;
      const digest = refs[name]?.digest;
      if (!isDigest(digest))
        assertDigest(digest, `digest of ${role} "${name}" of execution "${execution.id}"`);
    }
  }
  if (execution.configDigest !== undefined && !isDigest(execution.configDigest))
    assertDigest(execution.configDigest, 'config digest');
  if (execution.reason !== undefined && typeof execution.reason !== 'string')
    throw invalid(`execution "${execution.id}": reason must be a string`);
  for (const record of artifacts)
    if (!isDigest(record?.digest)) assertDigest(record?.digest, 'artifact record digest');
}

/**
 * The columns a SQL metadata store writes for one execution, in the order
 * {@link executionValues} gives their values: one list, so two stores cannot
 * disagree on which value goes where.
 */
export const EXECUTION_COLUMNS = [
  'id',
  'run_id',
  'step',
  'status',
  'cache_key',
  'cacheable',
  'cached_from',
  'inputs',
  'outputs',
  'config_digest',
  'started_at',
  'finished_at',
  'duration_ms',
  'attempts',
  'error',
  'reason',
] as const;

/** The {@link EXECUTION_COLUMNS} whose values {@link executionValues} gives as JSON text (a dialect may cast them). */
export const EXECUTION_JSON_COLUMNS: ReadonlySet<(typeof EXECUTION_COLUMNS)[number]> = new Set([
  'inputs',
  'outputs',
  'error',
]);

/**
 * An execution's values in {@link EXECUTION_COLUMNS} order: JSON columns as
 * JSON text (inputs and outputs `{}` when absent, error `null`), absent
 * optional values as `null`, and `cacheable` as the dialect stores a boolean.
 */
export function executionValues(
  execution: ExecutionRecord,
  boolean: (value: boolean) => unknown = (value) => value,
): unknown[] {
  return [
    execution.id,
    execution.runId,
    execution.step,
    execution.status,
    execution.cacheKey,
    boolean(execution.cacheable),
    execution.cachedFrom ?? null,
    JSON.stringify(execution.inputs ?? {}),
    JSON.stringify(execution.outputs ?? {}),
    execution.configDigest ?? null,
    execution.startedAt,
    execution.finishedAt ?? null,
    execution.durationMs ?? null,
    execution.attempts,
    execution.error === undefined ? null : JSON.stringify(execution.error),
    execution.reason ?? null,
  ];
}

export function validateRegisterModelInput(input: RegisterModelInput): void {
  checkId(input?.model, 'model name');
  assertDigest(input.digest, `digest of model "${input.model}"`);
}

export function validateTransitionInput(input: TransitionInput): void {
  checkId(input?.model, 'model name');
  if (!Number.isInteger(input.version) || input.version < 1) {
    throw invalid(`model "${input.model}": version must be a positive integer, got ${input.version}`);
  }
  if (!STAGES.has(input.to)) throw invalid(`model "${input.model}": unknown stage "${input.to}"`);
  if (
    input.expectedIncumbent !== undefined &&
    input.expectedIncumbent !== null &&
    !(Number.isInteger(input.expectedIncumbent) && input.expectedIncumbent > 0)
  ) {
    throw invalid(`model "${input.model}": expectedIncumbent must be a version number or null`);
  }
  if (input.expectedFrom !== undefined && !STAGES.has(input.expectedFrom)) {
    throw invalid(`model "${input.model}": unknown expectedFrom stage "${input.expectedFrom}"`);
  }
}

type MaybePromise<T> = T | Promise<T>;

/** The reads a lineage walk needs from a metadata store; execution ids in recording order. */
export interface LineageSource {
  execution(id: string): MaybePromise<ExecutionRecord | undefined>;
  artifact(digest: string): MaybePromise<ArtifactRecord | undefined>;
  /** Ids of executions that output this digest. */
  producers(digest: string): MaybePromise<readonly string[]>;
  /** Ids of executions that take this digest as an input. */
  consumers(digest: string): MaybePromise<readonly string[]>;
  runExecutions(runId: string): MaybePromise<readonly string[]>;
}

/**
 * Breadth-first lineage over the artifact → execution → artifact graph, with
 * the semantics of `MetadataStore.lineage` (and `testMetadata`): depth counts
 * executions, `both` is the union of `up` and `down`, a run's own executions
 * are level 0. Stores whose queries can answer the five reads of
 * {@link LineageSource} get a conforming `lineage` from it.
 */
export async function walkLineage(
  source: LineageSource,
  target: { digest: string } | { runId: string },
  options: { direction?: 'up' | 'down' | 'both'; depth?: number } = {},
): Promise<LineageGraph> {
  const direction = options.direction ?? 'both';
  const depth = options.depth ?? Number.POSITIVE_INFINITY;
  const executions = new Map<string, ExecutionRecord>();
  const digests = new Set<string>();
  const edges = new Map<string, LineageGraph['edges'][number]>();
  const addEdge = (from: string, to: string, name: string, kind: 'input' | 'output') => {
    edges.set(`${kind}\0${from}\0${to}\0${name}`, { from, to, name, kind });
  };

  let upStart: string[];
  let downStart: string[];
  if ('digest' in target) {
    digests.add(target.digest);
    upStart = [target.digest];
    downStart = [target.digest];
  } else {
    upStart = [];
    downStart = [];
    for (const id of await source.runExecutions(target.runId)) {
      const execution = await source.execution(id);
      if (!execution) continue;
      executions.set(id, execution);
      for (const [name, ref] of Object.entries(execution.inputs)) {
        addEdge(ref.digest, id, name, 'input');
        digests.add(ref.digest);
        upStart.push(ref.digest);
      }
      for (const [name, ref] of Object.entries(execution.outputs)) {
        addEdge(id, ref.digest, name, 'output');
        digests.add(ref.digest);
        downStart.push(ref.digest);
      }
    }
  }

  const visitedUp = new Set<string>();
  const visitedDown = new Set<string>();
  if (direction !== 'down') {
    let frontier = upStart;
    const seen = new Set(upStart);
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const next: string[] = [];
      for (const digest of frontier) {
        for (const id of await source.producers(digest)) {
          const execution = executions.get(id) ?? (await source.execution(id));
          if (!execution) continue;
          for (const [name, ref] of Object.entries(execution.outputs)) {
            if (ref.digest === digest) addEdge(id, digest, name, 'output');
          }
          if (visitedUp.has(id)) continue;
          visitedUp.add(id);
          executions.set(id, execution);
          for (const [name, ref] of Object.entries(execution.inputs)) {
            addEdge(ref.digest, id, name, 'input');
            digests.add(ref.digest);
            if (!seen.has(ref.digest)) next.push(ref.digest);
            seen.add(ref.digest);
          }
        }
      }
      frontier = next;
    }
  }
  if (direction !== 'up') {
    let frontier = downStart;
    const seen = new Set(downStart);
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const next: string[] = [];
      for (const digest of frontier) {
        for (const id of await source.consumers(digest)) {
          const execution = executions.get(id) ?? (await source.execution(id));
          if (!execution) continue;
          for (const [name, ref] of Object.entries(execution.inputs)) {
            if (ref.digest === digest) addEdge(digest, id, name, 'input');
          }
          if (visitedDown.has(id)) continue;
          visitedDown.add(id);
          executions.set(id, execution);
          for (const [name, ref] of Object.entries(execution.outputs)) {
            addEdge(id, ref.digest, name, 'output');
            digests.add(ref.digest);
            if (!seen.has(ref.digest)) next.push(ref.digest);
            seen.add(ref.digest);
          }
        }
      }
      frontier = next;
    }
  }

  const artifacts: ArtifactRecord[] = [];
  for (const digest of digests) {
    const record = await source.artifact(digest);
    if (record) artifacts.push(record);
  }
  return { artifacts, executions: [...executions.values()], edges: [...edges.values()] };
}
