/** Executions with their artifacts, lineage edges and cache entry, each recorded in one transaction; the cache index. */
import {
  type ArtifactRecord,
  type CacheEntry,
  CairnError,
  ErrorCodes,
  type MetadataStore,
} from '@cairn/core';
import {
  EXECUTION_COLUMNS,
  EXECUTION_JSON_COLUMNS,
  executionValues,
  validateExecutionRecord,
} from '@cairn/runtime/plugin-kit';
import type { Connection } from './connection';
import { executionFromRow, json } from './rows';

/** `$1, $2, …` for the execution columns, with the JSON ones cast. */
const EXECUTION_PLACEHOLDERS = EXECUTION_COLUMNS.map((column, i) =>
  EXECUTION_JSON_COLUMNS.has(column) ? `$${i + 1}::json` : `$${i + 1}`,
).join(', ');

export function executions(
  db: Connection,
): Pick<
  MetadataStore,
  'recordExecution' | 'listExecutions' | 'getExecution' | 'lookupCache' | 'invalidateCache'
> {
  const { t, query, transaction } = db;
  return {
    async recordExecution(execution, artifacts) {
      validateExecutionRecord(execution, artifacts);
      await transaction(async (db) => {
        const inserted = await db.query(
          `INSERT INTO ${t('executions')} (${EXECUTION_COLUMNS.join(', ')})
           VALUES (${EXECUTION_PLACEHOLDERS})
           ON CONFLICT (id) DO NOTHING`,
          executionValues(execution),
        );
        if (inserted.rowCount === 0) {
          throw new CairnError(ErrorCodes.METADATA_FAILED, `Execution "${execution.id}" is already recorded`);
        }

        // First record of a digest in this call wins, as across calls; inserting in digest order means two
        // transactions with overlapping artifacts always wait for each other in the same order (no deadlock).
        const unique = new Map<string, ArtifactRecord>();
        for (const record of artifacts) if (!unique.has(record.digest)) unique.set(record.digest, record);
        const records = [...unique.values()].sort((a, b) =>
          a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0,
        );
        if (records.length > 0) {
          const params: unknown[] = [];
          const values = records.map((record) => {
            const p = record.producer;
            params.push(
              record.digest,
              record.type,
              record.size,
              json(record.metadata),
              p?.runId ?? null,
              p?.step ?? null,
              p?.output ?? null,
              p?.executionId ?? null,
              record.createdAt,
            );
            const n = params.length - 9;
            return `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}::json, $${n + 5}, $${n + 6}, $${n + 7}, $${n + 8}, $${n + 9})`;
          });
          await db.query(
            `INSERT INTO ${t('artifacts')} (digest, type, size, metadata, producer_run_id, producer_step, producer_output,
               producer_execution_id, created_at)
             VALUES ${values.join(', ')} ON CONFLICT (digest) DO NOTHING`,
            params,
          );
        }

        const edges: Array<[string, string, string]> = [
          ...Object.entries(execution.inputs ?? {}).map(
            ([name, r]) => ['input', name, r.digest] as [string, string, string],
          ),
          ...Object.entries(execution.outputs ?? {}).map(
            ([name, r]) => ['output', name, r.digest] as [string, string, string],
          ),
        ];
        if (edges.length > 0) {
          const params: unknown[] = [execution.id];
          const values = edges.map(([kind, name, digest]) => {
            params.push(kind, name, digest);
            const n = params.length - 3;
            return `($1, $${n + 1}, $${n + 2}, $${n + 3})`;
          });
          await db.query(
            `INSERT INTO ${t('execution_artifacts')} (execution_id, role, name, digest) VALUES ${values.join(', ')}`,
            params,
          );
        }

        if (execution.status === 'succeeded' && execution.cacheable) {
          await db.query(
            `INSERT INTO ${t('cache_entries')} (cache_key, execution_id, run_id, outputs, created_at)
             VALUES ($1, $2, $3, $4::json, $5)
             ON CONFLICT (cache_key) DO UPDATE SET execution_id = EXCLUDED.execution_id, run_id = EXCLUDED.run_id,
               outputs = EXCLUDED.outputs, created_at = EXCLUDED.created_at`,
            [
              execution.cacheKey,
              execution.id,
              execution.runId,
              json(execution.outputs ?? {}),
              new Date().toISOString(),
            ],
          );
        }
      });
    },

    async listExecutions(runId) {
      const rows = await query(`SELECT * FROM ${t('executions')} WHERE run_id = $1 ORDER BY seq`, [runId]);
      return rows.map(executionFromRow);
    },

    async getExecution(id) {
      const rows = await query(`SELECT * FROM ${t('executions')} WHERE id = $1`, [id]);
      return rows[0] ? executionFromRow(rows[0]) : undefined;
    },

    async lookupCache(cacheKey) {
      const rows = await query(`SELECT * FROM ${t('cache_entries')} WHERE cache_key = $1`, [cacheKey]);
      const row = rows[0];
      if (!row) return undefined;
      const entry: CacheEntry = {
        cacheKey: row.cache_key,
        executionId: row.execution_id,
        runId: row.run_id,
        outputs: row.outputs,
        createdAt: row.created_at,
      };
      return entry;
    },

    async invalidateCache(cacheKey) {
      await query(`DELETE FROM ${t('cache_entries')} WHERE cache_key = $1`, [cacheKey]);
    },
  };
}
