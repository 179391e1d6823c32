/** Artifact records and the lineage walk over them, read in one snapshot. */
import { type ArtifactQuery, assertDigest, type ExecutionRecord, type MetadataStore } from '@cairn/core';
import { walkLineage } from '@cairn/runtime/plugin-kit';
import type { Connection, Row } from './connection';
import { artifactFromRow, executionFromRow, limitOf } from './rows';

export function artifacts(db: Connection): Pick<MetadataStore, 'getArtifact' | 'listArtifacts' | 'lineage'> {
  const { t, query, transaction } = db;
  return {
    async getArtifact(digest) {
      const rows = await query(`SELECT * FROM ${t('artifacts')} WHERE digest = $1`, [digest]);
      return rows[0] ? artifactFromRow(rows[0]) : undefined;
    },

    async listArtifacts(q: ArtifactQuery = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.type !== undefined) {
        params.push(q.type);
        where.push(`a.type = $${params.length}`);
      }
      if (q.runId !== undefined) {
        params.push(q.runId);
        where.push(
          `a.digest IN (SELECT l.digest FROM ${t('execution_artifacts')} l JOIN ${t('executions')} e ON e.id = l.execution_id
                        WHERE e.run_id = $${params.length} AND l.role = 'output')`,
        );
      }
      params.push(limitOf(q.limit, 100));
      const rows = await query(
        `SELECT a.* FROM ${t('artifacts')} a ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY a.created_at DESC, a.seq DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(artifactFromRow);
    },

    async lineage(target, lineageOptions = {}) {
      if ('digest' in target) assertDigest(target.digest);
      // One snapshot for the whole walk, so a concurrent recordExecution cannot show up half-way.
      return transaction(async (db) => {
        // Each neighbour query brings the execution records along, so the walk's execution() reads are free.
        const known = new Map<string, ExecutionRecord>();
        const remember = (rows: Row[]) =>
          rows.map((row) => {
            const execution = executionFromRow(row);
            known.set(execution.id, execution);
            return execution.id;
          });
        const neighbours = async (kind: 'input' | 'output', digest: string) =>
          remember(
            (
              await db.query(
                `SELECT e.* FROM ${t('executions')} e
                 WHERE e.id IN (SELECT l.execution_id FROM ${t('execution_artifacts')} l WHERE l.digest = $1 AND l.role = $2)
                 ORDER BY e.seq`,
                [digest, kind],
              )
            ).rows,
          );
        return walkLineage(
          {
            execution: async (id) => {
              if (known.has(id)) return known.get(id);
              const rows = (await db.query(`SELECT * FROM ${t('executions')} WHERE id = $1`, [id])).rows;
              return rows[0] ? executionFromRow(rows[0]) : undefined;
            },
            artifact: async (digest) => {
              const rows = (await db.query(`SELECT * FROM ${t('artifacts')} WHERE digest = $1`, [digest]))
                .rows;
              return rows[0] ? artifactFromRow(rows[0]) : undefined;
            },
            producers: (digest) => neighbours('output', digest),
            consumers: (digest) => neighbours('input', digest),
            runExecutions: async (runId) =>
              remember(
                (await db.query(`SELECT * FROM ${t('executions')} WHERE run_id = $1 ORDER BY seq`, [runId]))
                  .rows,
              ),
          },
          target,
          lineageOptions,
        );
      }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    },
  };
}
