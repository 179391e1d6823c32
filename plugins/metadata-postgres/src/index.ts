/**
 * @cairn/metadata-postgres — the Cairn metadata store on PostgreSQL, for teams
 * whose runs, workers and CI share one run history, cache and model registry.
 */
import type { MetadataStore } from '@cairn/core';
import { type PostgresMetadataOptions, validateOptions, withoutPassword } from './options';
import { createStore } from './store';

export type { PostgresMetadataOptions } from './options';

/**
 * A metadata store on PostgreSQL. Options are checked now; the connection
 * opens (and pending schema migrations run) on first use or `init()`.
 *
 * Several processes and machines may share one database: migrations wait on
 * an advisory lock, each execution is recorded in one transaction, and
 * registry transitions lock the model so that of two racing promotions one
 * wins and the other fails with `CAIRN_REGISTRY_CONFLICT`.
 *
 * @param options a connection string, or {@link PostgresMetadataOptions}
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, when one is invalid
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * export default defineConfig({
 *   env: { prod: { metadata: postgresMetadata({ url: '${env:DATABASE_URL}' }) } },
 * });
 * ```
 */
export function postgresMetadata(options: PostgresMetadataOptions | string): MetadataStore {
  const resolved = validateOptions(options);
  const given: PostgresMetadataOptions = typeof options === 'string' ? { url: options } : { ...options };
  // A worker re-creates the store from this: never with a literal password in it (pg then reads PGPASSWORD).
  const ref = {
    module: '@cairn/metadata-postgres',
    export: 'postgresMetadata',
    options: { ...given, url: withoutPassword(resolved.url) },
  };
  return createStore(resolved, ref);
}

export default postgresMetadata;
