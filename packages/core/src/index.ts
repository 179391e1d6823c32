/**
 * @cairn/core — the kernel: the plugin contracts (one file per kind under
 * `contracts/`), the authoring API (step, pipeline, artifact types), the
 * stack shape of `cairn.config.ts`, errors, events and hashing. It runs
 * nothing: `@cairn/runtime` runs pipelines, `@cairn/delivery` holds the
 * model-delivery steps.
 */

export * from './artifacts/builtin';
export * from './contracts/abtest';
export * from './contracts/artifact';
export * from './contracts/deployer';
export * from './contracts/executor';
export * from './contracts/metadata';
export * from './contracts/storage';
export * from './errors';
export * from './events';
export * from './hash';
export * from './pipeline';
export * from './stack';
export * from './step';
export { CORE_VERSION } from './version';
