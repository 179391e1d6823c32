import type {
  ArtifactQuery,
  ArtifactRecord,
  CacheEntry,
  ExecutionRecord,
  LineageGraph,
  MetadataStore,
  ModelVersion,
  RegisterModelInput,
  RunQuery,
  RunRecord,
  StageTransition,
  TransitionInput,
} from '@cairn/core';
import { assertDigest, CairnError, ErrorCodes } from '@cairn/core';
import {
  planStageTransition,
  validateAbandonMark,
  validateExecutionRecord,
  validateLease,
  validateRegisterModelInput,
  validateRunRecord,
  validateTransitionInput,
  walkLineage,
} from '@cairn/runtime/plugin-kit';

/**
 * A complete metadata store held in this process's memory: for tests, and
 * the fallback when no persistent store is installed. Nothing survives the
 * process; every record handed in or out is a copy, so callers cannot change
 * stored state by mutating objects.
 *
 * @example
 * ```ts
 * const metadata = memoryMetadata();
 * await metadata.createRun({ id: 'r_1', pipeline: 'training', env: 'local', status: 'running', startedAt, versions: {}, configs: {} });
 * ```
 */
export function memoryMetadata(): MetadataStore {
  const runs = new Map<string, RunRecord>();
  const executions = new Map<string, ExecutionRecord>();
  const executionsByRun = new Map<string, string[]>();
  const artifacts = new Map<string, ArtifactRecord>();
  /** digest → ids of executions that output it, in recording order. */
  const producers = new Map<string, string[]>();
  /** digest → ids of executions that take it as input, in recording order. */
  const consumers = new Map<string, string[]>();
  const cache = new Map<string, CacheEntry>();
  const models = new Map<string, ModelVersion[]>();
  const history = new Map<string, StageTransition[]>();

  const push = (map: Map<string, string[]>, key: string, value: string) => {
    const list = map.get(key);
    if (list) {
      if (!list.includes(value)) list.push(value);
    } else map.set(key, [value]);
  };

  const source = {
    execution: (id: string) => executions.get(id),
    artifact: (digest: string) => artifacts.get(digest),
    producers: (digest: string) => producers.get(digest) ?? [],
    consumers: (digest: string) => consumers.get(digest) ?? [],
    runExecutions: (runId: string) => executionsByRun.get(runId) ?? [],
  };

  return {
    kind: 'metadata',
    name: 'memory',

    async init() {},

    async createRun(run) {
      validateRunRecord(run);
      if (runs.has(run.id)) {
        throw new CairnError(ErrorCodes.METADATA_FAILED, `Run "${run.id}" already exists`);
      }
      runs.set(run.id, clone(run));
    },

    async updateRun(id, patch) {
      const run = runs.get(id);
      if (!run) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
      const next = { ...run };
      for (const key of ['status', 'finishedAt', 'counts', 'error'] as const) {
        if (patch[key] !== undefined) (next as any)[key] = clone(patch[key]);
      }
      // '' is a cleared error (see MetadataStore.updateRun).
      if (next.error === '') delete next.error;
      runs.set(id, next);
    },

    async heartbeat(id, lease) {
      validateLease(lease);
      const run = runs.get(id);
      if (!run) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
      if (run.status !== 'running') return false;
      runs.set(id, { ...run, lease: { heartbeatAt: lease.heartbeatAt, expiresAt: lease.expiresAt } });
      return true;
    },

    async abandonRun(id, mark) {
      validateAbandonMark(mark);
      const run = runs.get(id);
      if (!run) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
      if (run.status !== 'running') return false;
      if (mark.expiredBy !== undefined && !(run.lease && run.lease.expiresAt < mark.expiredBy)) return false;
      runs.set(id, { ...run, status: 'failed', finishedAt: mark.finishedAt, error: mark.error });
      return true;
    },

    async getRun(id) {
      return clone(runs.get(id));
    },

    async listRuns(query: RunQuery = {}) {
      const limit = query.limit ?? 50;
      const out: RunRecord[] = [];
      // Ids are time-ordered, so id order is start order and `before` pages cleanly.
      const ids = [...runs.keys()].sort().reverse();
      for (const id of ids) {
        if (out.length >= limit) break;
        const run = runs.get(id)!;
        if (query.before !== undefined && !(id < query.before)) continue;
        if (query.pipeline !== undefined && run.pipeline !== query.pipeline) continue;
        if (query.status !== undefined && run.status !== query.status) continue;
        if (query.env !== undefined && run.env !== query.env) continue;
        out.push(clone(run));
      }
      return out;
    },

    async recordExecution(execution, records) {
      // Check everything before changing anything: that is what makes this one transaction here.
      validateExecutionRecord(execution, records);
      if (executions.has(execution.id)) {
        throw new CairnError(ErrorCodes.METADATA_FAILED, `Execution "${execution.id}" is already recorded`);
      }
      executions.set(execution.id, clone(execution));
      push(executionsByRun, execution.runId, execution.id);
      for (const record of records) {
        if (!artifacts.has(record.digest)) artifacts.set(record.digest, clone(record));
      }
      for (const ref of Object.values(execution.inputs)) push(consumers, ref.digest, execution.id);
      for (const ref of Object.values(execution.outputs)) push(producers, ref.digest, execution.id);
      if (execution.status === 'succeeded' && execution.cacheable) {
        cache.set(execution.cacheKey, {
          cacheKey: execution.cacheKey,
          executionId: execution.id,
          runId: execution.runId,
          outputs: clone(execution.outputs),
          createdAt: new Date().toISOString(),
        });
      }
    },

    async listExecutions(runId) {
      return (executionsByRun.get(runId) ?? []).map((id) => clone(executions.get(id)!));
    },

    async getExecution(id) {
      return clone(executions.get(id));
    },

    async lookupCache(cacheKey) {
      return clone(cache.get(cacheKey));
    },

    async invalidateCache(cacheKey) {
      cache.delete(cacheKey);
    },

    async getArtifact(digest) {
      return clone(artifacts.get(digest));
    },

    async listArtifacts(query: ArtifactQuery = {}) {
      const limit = query.limit ?? 100;
      let list = [...artifacts.values()];
      if (query.type !== undefined) list = list.filter((a) => a.type === query.type);
      if (query.runId !== undefined) {
        const produced = new Set<string>();
        for (const id of executionsByRun.get(query.runId) ?? []) {
          for (const ref of Object.values(executions.get(id)!.outputs)) produced.add(ref.digest);
        }
        list = list.filter((a) => produced.has(a.digest));
      }
      // Map order is insertion order; reversing first keeps the sort stable newest-first on equal times.
      list.reverse();
      list.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
      return clone(list.slice(0, limit));
    },

    async lineage(target, options = {}): Promise<LineageGraph> {
      if ('digest' in target) assertDigest(target.digest);
      return clone(await walkLineage(source, target, options));
    },

    async registerModel(input: RegisterModelInput) {
      validateRegisterModelInput(input);
      const versions = models.get(input.model) ?? [];
      const existing = versions.find((v) => v.digest === input.digest);
      if (existing) return clone(existing);
      const version: ModelVersion = {
        model: input.model,
        version: versions.length + 1,
        digest: input.digest,
        stage: 'none',
        metrics: clone(input.metrics ?? {}),
        createdAt: new Date().toISOString(),
        ...(input.runId !== undefined ? { runId: input.runId } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
      };
      versions.push(version);
      models.set(input.model, versions);
      return clone(version);
    },

    async getModelVersion(model, version) {
      return clone(models.get(model)?.find((v) => v.version === version));
    },

    async listModelVersions(model) {
      return clone([...(models.get(model) ?? [])].reverse());
    },

    async listModels() {
      return [...models.keys()].sort().map((model) => {
        const versions = models.get(model)!;
        const entry: { model: string; latest: number; production?: number; staging?: number } = {
          model,
          latest: versions.length,
        };
        const production = versions.find((v) => v.stage === 'production');
        const staging = versions.find((v) => v.stage === 'staging');
        if (production) entry.production = production.version;
        if (staging) entry.staging = staging.version;
        return entry;
      });
    },

    async getModelByStage(model, stage) {
      // With archivePrevious: false two versions may share a stage; the newest wins.
      const versions = models.get(model) ?? [];
      return clone([...versions].reverse().find((v) => v.stage === stage));
    },

    async transitionStage(input: TransitionInput) {
      validateTransitionInput(input);
      // One synchronous stretch: nothing else runs between reading the state and applying the plan.
      const versions = models.get(input.model) ?? [];
      const version = versions.find((v) => v.version === input.version);
      const plan = planStageTransition(input, {
        current: version?.stage,
        holders: versions.filter((v) => v !== version && v.stage === input.to),
      });
      const log = history.get(input.model) ?? [];
      history.set(input.model, log);
      for (const transition of plan.transitions) {
        if (transition.accepted)
          versions.find((v) => v.version === transition.version)!.stage = transition.to;
        log.push(transition);
      }
      if (plan.conflict) throw plan.conflict;
      return clone(plan.transitions.at(-1)!);
    },

    async modelHistory(model) {
      return clone(history.get(model) ?? []);
    },

    async close() {},
  };
}

function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}
