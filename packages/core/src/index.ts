/**
 * @cairn/core — steps, artifacts, pipelines, the orchestrator, the plugin
 * contracts and the embedded defaults (local store, in-memory metadata,
 * in-process and worker-pool executors).
 */

// artifact types and storage
export * from './artifacts/builtin';
export * from './artifacts/io';
// config resolution
export * from './config/index';
export * from './contracts/abtest';
export * from './contracts/artifact';
export * from './contracts/deployer';
export * from './contracts/executor';
export * from './contracts/metadata';
export * from './contracts/storage';
export * from './errors';
export * from './events';
export * from './executors/in-process';
export * from './executors/worker-pool';
export * from './hash';
export { importModule } from './load';
// metadata
export * from './metadata/memory';
export * from './orchestrator/plan';
export * from './orchestrator/run';
export { deployerStateDir } from './orchestrator/services';
export * from './orchestrator/types';
export * from './pipeline';
export * from './plugin-options';
// model registry: promotion gate and the register/gate steps
export * from './registry/deploy';
export * from './registry/gate';
export * from './registry/steps';
// running
export * from './runner';
export * from './stack';
export * from './step';
export * from './storage/local';
export * from './storage/memory';
export * from './storage/verify';
export * from './tar';
