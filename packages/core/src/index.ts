/**
 * @cairn/core — steps, artifacts, pipelines, the orchestrator, the plugin
 * contracts and the embedded defaults (local store, in-memory metadata,
 * in-process and worker-pool executors).
 */
export * from './errors';
export * from './hash';
export * from './contracts/storage';
export * from './contracts/metadata';
export * from './contracts/executor';
export * from './contracts/artifact';
export * from './step';
export * from './pipeline';
export * from './events';
export * from './stack';
export { importModule } from './load';

// artifact types and storage
export * from './artifacts/builtin';
export * from './artifacts/io';
export * from './tar';
export * from './storage/verify';
export * from './storage/local';
export * from './storage/memory';

// config resolution
export * from './config/index';

// metadata
export * from './metadata/memory';

// running
export * from './runner';
export * from './orchestrator/types';
export * from './orchestrator/run';
export * from './orchestrator/plan';
export * from './executors/in-process';
export * from './executors/worker-pool';
