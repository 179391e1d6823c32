/**
 * @cairn/runtime — runs what @cairn/core describes: opens a project
 * (`openProject`), resolves and validates step configs, decides the cache,
 * schedules steps, runs them (`runStepTask`) and records executions and
 * lineage. Also the embedded local store and the in-process and worker-pool
 * executors.
 */

export * from './artifacts/io';
export * from './artifacts/model-bundle';
export * from './config/index';
export * from './executors/in-process';
export * from './executors/worker-pool';
export { importModule } from './load';
export { changeSince } from './orchestrator/cache';
export * from './orchestrator/exec';
export { newId } from './orchestrator/ids';
export { DEFAULT_LEASE, type LeaseOptions, markAbandonedRuns } from './orchestrator/lease';
export * from './orchestrator/plan';
export * from './orchestrator/run';
export { type PipelineSlice, type SliceOptions, sliceOf } from './orchestrator/slice';
export {
  readStepLog,
  STEP_LOG_LIMIT_BYTES,
  type StepLog,
  type StepLogEntry,
  stepLogPath,
} from './orchestrator/step-log';
export * from './orchestrator/sweep';
export * from './orchestrator/types';
export * from './project/open';
export * from './runner';
export * from './storage/local';
export { RUNTIME_VERSION } from './version';
