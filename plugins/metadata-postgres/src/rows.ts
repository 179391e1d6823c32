/** Rows ↔ records: how each record is laid out in its table. */
import type { ArtifactRecord, ExecutionRecord, ModelVersion, RunRecord } from '@cairn/core';
import type { Row } from './connection';

export function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function limitOf(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : fallback;
}

export function runFromRow(row: Row): RunRecord {
  const run: RunRecord = {
    id: row.id,
    pipeline: row.pipeline,
    env: row.env,
    status: row.status,
    startedAt: row.started_at,
    versions: row.versions,
    configs: row.configs,
  };
  if (row.finished_at !== null) run.finishedAt = row.finished_at;
  if (row.git !== null) run.git = row.git;
  if (row.counts !== null) run.counts = row.counts;
  if (row.tags !== null) run.tags = row.tags;
  if (row.host !== null) run.host = row.host;
  // '' is a cleared error (updateRun's way to remove one).
  if (row.error !== null && row.error !== '') run.error = row.error;
  if (row.config_bundle !== null && row.config_bundle !== undefined) run.configBundle = row.config_bundle;
  if (row.heartbeat_at != null && row.lease_expires_at != null)
    run.lease = { heartbeatAt: row.heartbeat_at, expiresAt: row.lease_expires_at };
  return run;
}

export function executionFromRow(row: Row): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    runId: row.run_id,
    step: row.step,
    status: row.status,
    cacheKey: row.cache_key,
    cacheable: row.cacheable,
    inputs: row.inputs,
    outputs: row.outputs,
    startedAt: row.started_at,
    attempts: row.attempts,
  };
  if (row.cached_from !== null) execution.cachedFrom = row.cached_from;
  if (row.config_digest !== null) execution.configDigest = row.config_digest;
  if (row.finished_at !== null) execution.finishedAt = row.finished_at;
  if (row.duration_ms !== null) execution.durationMs = row.duration_ms;
  if (row.error !== null) execution.error = row.error;
  if (row.reason != null) execution.reason = row.reason;
  return execution;
}

export function artifactFromRow(row: Row): ArtifactRecord {
  const record: ArtifactRecord = {
    digest: row.digest,
    type: row.type,
    // bigint arrives as a string; artifact sizes stay far below 2^53.
    size: Number(row.size),
    createdAt: row.created_at,
  };
  if (row.metadata !== null) record.metadata = row.metadata;
  if (row.producer_execution_id !== null) {
    record.producer = {
      runId: row.producer_run_id,
      step: row.producer_step,
      output: row.producer_output,
      executionId: row.producer_execution_id,
    };
  }
  return record;
}

export function versionFromRow(row: Row): ModelVersion {
  const version: ModelVersion = {
    model: row.model,
    version: row.version,
    digest: row.digest,
    stage: row.stage,
    metrics: row.metrics,
    createdAt: row.created_at,
  };
  if (row.run_id !== null) version.runId = row.run_id;
  if (row.description !== null) version.description = row.description;
  return version;
}
