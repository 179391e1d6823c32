/**
 * Every state change of a run is an event. The CLI renders them as live
 * progress, `cairn run --json` prints them one per line, and hooks receive
 * them. Events are plain JSON.
 */
import type { ArtifactRef, RunCounts, RunStatus } from './contracts/metadata';

interface EventBase {
  runId: string;
  /** ISO-8601 time the event happened. */
  at: string;
}

export type CairnEvent =
  | (EventBase & { type: 'run.started'; pipeline: string; env: string; steps: string[] })
  | (EventBase & {
      type: 'step.started';
      step: string;
      attempt: number;
      reason: PlanReason;
      /** What the reason is about: `output model sha256:…` for `corrupt`, the changed file for `code-changed`. */
      detail?: string;
    })
  | (EventBase & {
      type: 'step.cached';
      step: string;
      durationMs: number;
      cachedFrom: string;
      outputs: Record<string, ArtifactRef>;
    })
  | (EventBase & {
      type: 'step.succeeded';
      step: string;
      durationMs: number;
      attempts: number;
      outputs: Record<string, ArtifactRef>;
    })
  | (EventBase & {
      type: 'step.failed';
      step: string;
      durationMs: number;
      attempts: number;
      error: { code?: string; message: string };
    })
  | (EventBase & {
      type: 'step.retrying';
      step: string;
      attempt: number;
      delayMs: number;
      error: { code?: string; message: string };
    })
  | (EventBase & { type: 'step.skipped'; step: string; reason: string })
  | (EventBase & {
      type: 'step.log';
      step: string;
      level: 'debug' | 'info' | 'warn' | 'error';
      message: string;
      fields?: Record<string, unknown>;
    })
  | (EventBase & {
      type: 'artifact.written';
      step: string;
      output: string;
      digest: string;
      artifactType: string;
      size: number;
    })
  | (EventBase & {
      type: 'run.finished';
      status: RunStatus;
      durationMs: number;
      counts: RunCounts;
      error?: string;
    });

export type CairnEventType = CairnEvent['type'];

/**
 * Why a step would run (or not), as `plan` and `step.started` report it.
 * - `cached`: a verified result with the same cache key exists
 * - `new`: never ran with this step name
 * - `config-changed`, `code-changed`, `input-changed`: the cache key differs in that part
 * - `forced`: `--force` named it
 * - `no-cache`: caching is off for the run or the step
 * - `missing-artifact`: a cached result exists but an output is gone from storage
 * - `corrupt`: a cached result exists but an output's bytes no longer match its digest
 * - `upstream`: an upstream step will run, so its inputs are not known yet
 * - `state-changed`: a cached result exists but the step's `reuse` check refused it
 */
export type PlanReason =
  | 'cached'
  | 'new'
  | 'config-changed'
  | 'code-changed'
  | 'input-changed'
  | 'forced'
  | 'no-cache'
  | 'missing-artifact'
  | 'corrupt'
  | 'upstream'
  | 'state-changed';
