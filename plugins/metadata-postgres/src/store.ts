/**
 * The store object `postgresMetadata()` returns: one connection (pool,
 * migrations, transactions) shared by the four record modules.
 */
import type { MetadataStore, PluginRef } from '@cairn/core';
import { artifacts } from './artifacts';
import { openConnection } from './connection';
import { executions } from './executions';
import type { ResolvedOptions } from './options';
import { registry } from './registry';
import { runs } from './runs';

/** The store object `postgresMetadata()` returns; connects on first use. */
export function createStore(options: ResolvedOptions, ref: PluginRef): MetadataStore {
  const db = openConnection(options);
  return {
    kind: 'metadata',
    name: 'postgres',
    ref,
    async init() {
      await db.connect();
    },
    ...runs(db),
    ...executions(db),
    ...artifacts(db),
    ...registry(db),
    close: () => db.close(),
  };
}
