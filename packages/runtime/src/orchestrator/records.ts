/**
 * What a run writes to the metadata store, and the events that say so: the
 * config bundle, and one execution record per step — skipped, cached,
 * succeeded or failed — always with the event emitted after the record is
 * committed, so a reader of events never sees a step the store does not.
 */
import {
  type ArtifactRecord,
  type ArtifactRef,
  type CairnEvent,
  canonicalJson,
  type ExecutionRecord,
  type MetadataStore,
  type Pipeline,
  type RunCounts,
  type StorageDriver,
  sha256,
} from '@cairn/core';
import { newId } from './ids';
import type { PreparedRun } from './prepare';
import type { SecretScrubber } from './secrets';

/** The state every record of one run shares. */
export interface RunRecorder {
  runId: string;
  metadata: MetadataStore;
  emit: (event: CairnEvent) => void;
  /** The run's config bundle, linked to every execution as an input-side artifact. */
  bundle: ArtifactRecord;
  /** Each step's config digest. */
  configDigests: Record<string, string>;
  counts: RunCounts;
  /** Replaces resolved secrets by their references in what is recorded. */
  scrub: SecretScrubber;
  /** The first step failure in time order: the run's error. */
  firstError?: { step: string; code?: string; message: string };
}

export const now = () => new Date().toISOString();

/**
 * Every step's config in its stored form (secrets as `${env:…}`
 * references), as one json artifact per run. A file per step cost more than
 * everything else in a cold step on a slow disk; each step's digest still
 * names its config.
 */
export async function storeConfigBundle(
  pipeline: Pipeline,
  prepared: PreparedRun,
  storage: StorageDriver,
): Promise<{ bundle: ArtifactRecord; configDigests: Record<string, string> }> {
  const configDigests: Record<string, string> = {};
  const stored: Record<string, unknown> = {};
  for (const node of pipeline.nodes) {
    const config = prepared.configs.get(node.name)!;
    configDigests[node.name] = config.digest;
    stored[node.name] = config.stored;
  }
  const bytes = new TextEncoder().encode(canonicalJson(stored));
  const stat = await storage.put(bytes, { expectedDigest: sha256(bytes) });
  const bundle: ArtifactRecord = {
    digest: stat.digest,
    size: stat.size,
    type: 'json',
    createdAt: now(),
    metadata: { role: 'config-bundle', steps: pipeline.nodes.length },
  };
  return { bundle, configDigests };
}

/** A step that never ran because a producer failed or the run was cancelled. */
export async function recordSkipped(run: RunRecorder, step: string, message: string): Promise<void> {
  run.counts.skipped++;
  await run.metadata.recordExecution(
    {
      id: newId('e'),
      runId: run.runId,
      step,
      status: 'skipped',
      cacheKey: '',
      cacheable: false,
      inputs: {},
      outputs: {},
      configDigest: run.configDigests[step]!,
      startedAt: now(),
      finishedAt: now(),
      attempts: 0,
      error: { message },
    },
    [],
  );
  run.emit({ type: 'step.skipped', runId: run.runId, at: now(), step, reason: message });
}

interface StepRecordBase {
  step: string;
  cacheKey: string;
  cacheable: boolean;
  inputs: Record<string, ArtifactRef>;
}

/** A step whose earlier execution was reused. */
export async function recordCached(
  run: RunRecorder,
  base: StepRecordBase & { cachedFrom: string; outputs: Record<string, ArtifactRef>; durationMs: number },
): Promise<string> {
  const executionId = newId('e');
  const at = now();
  await run.metadata.recordExecution(
    {
      id: executionId,
      runId: run.runId,
      step: base.step,
      status: 'cached',
      cacheKey: base.cacheKey,
      cacheable: base.cacheable,
      cachedFrom: base.cachedFrom,
      inputs: base.inputs,
      outputs: base.outputs,
      configDigest: run.configDigests[base.step]!,
      startedAt: at,
      finishedAt: at,
      durationMs: 0,
      attempts: 0,
    },
    [run.bundle],
  );
  run.counts.cached++;
  run.emit({
    type: 'step.cached',
    runId: run.runId,
    at,
    step: base.step,
    durationMs: base.durationMs,
    cachedFrom: base.cachedFrom,
    outputs: base.outputs,
  });
  return executionId;
}

/** A step that ran and produced every declared output; its artifacts and lineage in one transaction. */
export async function recordSucceeded(
  run: RunRecorder,
  base: StepRecordBase & {
    executionId: string;
    startedAt: string;
    durationMs: number;
    attempts: number;
    outputs: Record<string, ArtifactRef>;
    produced: Record<string, ArtifactRef & { metadata?: unknown }>;
  },
): Promise<void> {
  const finishedAt = now();
  const artifacts: ArtifactRecord[] = [run.bundle];
  for (const [output, ref] of Object.entries(base.produced)) {
    artifacts.push({
      digest: ref.digest,
      type: ref.type,
      size: ref.size,
      createdAt: finishedAt,
      producer: { runId: run.runId, step: base.step, output, executionId: base.executionId },
      ...(ref.metadata ? { metadata: ref.metadata as Record<string, unknown> } : {}),
    });
  }
  const record: ExecutionRecord = {
    id: base.executionId,
    runId: run.runId,
    step: base.step,
    status: 'succeeded',
    cacheKey: base.cacheKey,
    cacheable: base.cacheable,
    inputs: base.inputs,
    outputs: base.outputs,
    configDigest: run.configDigests[base.step]!,
    startedAt: base.startedAt,
    finishedAt,
    durationMs: base.durationMs,
    attempts: base.attempts,
  };
  await run.metadata.recordExecution(record, artifacts);
  for (const [output, ref] of Object.entries(base.outputs)) {
    run.emit({
      type: 'artifact.written',
      runId: run.runId,
      at: finishedAt,
      step: base.step,
      output,
      digest: ref.digest,
      artifactType: ref.type,
      size: ref.size,
    });
  }
  run.counts.executed++;
  run.emit({
    type: 'step.succeeded',
    runId: run.runId,
    at: finishedAt,
    step: base.step,
    durationMs: base.durationMs,
    attempts: base.attempts,
    outputs: base.outputs,
  });
}

/** A step that failed after its last attempt, or was cancelled while running. */
export async function recordFailed(
  run: RunRecorder,
  base: StepRecordBase & {
    executionId: string;
    startedAt: string;
    durationMs: number;
    attempts: number;
    cancelled: boolean;
    error: { code?: string; message: string };
  },
): Promise<void> {
  await run.metadata.recordExecution(
    {
      id: base.executionId,
      runId: run.runId,
      step: base.step,
      status: base.cancelled ? 'cancelled' : 'failed',
      cacheKey: base.cacheKey,
      cacheable: base.cacheable,
      inputs: base.inputs,
      outputs: {},
      configDigest: run.configDigests[base.step]!,
      startedAt: base.startedAt,
      finishedAt: now(),
      durationMs: base.durationMs,
      attempts: base.attempts,
      error: base.error,
    },
    [run.bundle],
  );
  if (!base.cancelled) {
    run.counts.failed++;
    run.firstError ??= { step: base.step, ...base.error };
  }
  run.emit({
    type: 'step.failed',
    runId: run.runId,
    at: now(),
    step: base.step,
    durationMs: base.durationMs,
    attempts: base.attempts,
    error: base.error,
  });
}
