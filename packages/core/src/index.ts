// @cairn/core, the kernel: contracts (one file per kind), step, pipeline, artifact types, stack
// shape, errors, events, hashing. It runs nothing (@cairn/runtime does; docs/architecture.md).

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
