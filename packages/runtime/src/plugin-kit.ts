/**
 * @cairn/runtime/plugin-kit — the helpers a plugin author needs and nothing
 * else: verified streams for storage drivers, the tar format of `dir` and
 * `model` artifacts, the row checks and lineage walk every metadata store
 * shares, and `createPlugin` for executors that rebuild a plugin from its
 * serializable reference in another process.
 */

export * from './metadata/rows';
export * from './metadata/stage-rule';
export * from './plugin-options';
export { createPlugin } from './plugins';
export * from './storage/verify';
export * from './tar';
