/** Runs: one row per pipeline run, newest first by id. */
import { CairnError, ErrorCodes, type MetadataStore, type RunQuery } from '@cairn/core';
import { validateAbandonMark, validateLease, validateRunRecord } from '@cairn/runtime/plugin-kit';
import type { Connection } from './connection';
import { json, limitOf, runFromRow } from './rows';

export function runs(
  db: Connection,
): Pick<MetadataStore, 'createRun' | 'updateRun' | 'heartbeat' | 'abandonRun' | 'getRun' | 'listRuns'> {
  const { t, query } = db;
  /** `true` when the conditional update changed the run; `false` when it exists but the condition did not hold. */
  const changed = async (id: string, rows: unknown[]) => {
    if (rows.length > 0) return true;
    const exists = await query(`SELECT 1 FROM ${t('runs')} WHERE id = $1`, [id]);
    if (exists.length === 0) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
    return false;
  };
  return {
    async createRun(run) {
      validateRunRecord(run);
      const rows = await query(
        `INSERT INTO ${t('runs')} (id, pipeline, env, status, started_at, finished_at, git, versions, configs, counts, tags, host, error, config_bundle,
           heartbeat_at, lease_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9::json, $10::json, $11::json, $12::json, $13, $14, $15, $16)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [
          run.id,
          run.pipeline,
          run.env,
          run.status,
          run.startedAt,
          run.finishedAt ?? null,
          json(run.git),
          json(run.versions ?? {}),
          json(run.configs ?? {}),
          json(run.counts),
          json(run.tags),
          json(run.host),
          run.error ?? null,
          run.configBundle ?? null,
          run.lease?.heartbeatAt ?? null,
          run.lease?.expiresAt ?? null,
        ],
      );
      if (rows.length === 0)
        throw new CairnError(ErrorCodes.METADATA_FAILED, `Run "${run.id}" already exists`);
    },

    async updateRun(id, patch) {
      const sets: string[] = [];
      const params: unknown[] = [id];
      const set = (column: string, value: unknown, cast = '') => {
        params.push(value);
        sets.push(`${column} = $${params.length}${cast}`);
      };
      if (patch.status !== undefined) set('status', patch.status);
      if (patch.finishedAt !== undefined) set('finished_at', patch.finishedAt);
      if (patch.counts !== undefined) set('counts', json(patch.counts), '::json');
      if (patch.error !== undefined) set('error', patch.error);
      // An empty patch still has to tell an unknown run apart.
      const sql =
        sets.length > 0
          ? `UPDATE ${t('runs')} SET ${sets.join(', ')} WHERE id = $1 RETURNING id`
          : `SELECT id FROM ${t('runs')} WHERE id = $1`;
      const rows = await query(sql, params);
      if (rows.length === 0) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
    },

    async heartbeat(id, lease) {
      validateLease(lease);
      const rows = await query(
        `UPDATE ${t('runs')} SET heartbeat_at = $2, lease_expires_at = $3
         WHERE id = $1 AND status = 'running' RETURNING id`,
        [id, lease.heartbeatAt, lease.expiresAt],
      );
      return changed(id, rows);
    },

    async abandonRun(id, mark) {
      validateAbandonMark(mark);
      // One statement: the check (still running, lease expired) and the write cannot be split by a heartbeat.
      const rows = await query(
        `UPDATE ${t('runs')} SET status = 'failed', finished_at = $2, error = $3
         WHERE id = $1 AND status = 'running'
         AND ($4::text IS NULL OR (lease_expires_at IS NOT NULL AND lease_expires_at < $4::text COLLATE "C"))
         RETURNING id`,
        [id, mark.finishedAt, mark.error, mark.expiredBy ?? null],
      );
      return changed(id, rows);
    },

    async getRun(id) {
      const rows = await query(`SELECT * FROM ${t('runs')} WHERE id = $1`, [id]);
      return rows[0] ? runFromRow(rows[0]) : undefined;
    },

    async listRuns(q: RunQuery = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (condition: string, value: unknown) => {
        params.push(value);
        where.push(condition.replace('?', `$${params.length}`));
      };
      if (q.pipeline !== undefined) add('pipeline = ?', q.pipeline);
      if (q.status !== undefined) add('status = ?', q.status);
      if (q.env !== undefined) add('env = ?', q.env);
      if (q.before !== undefined) add('id < ?', q.before);
      params.push(limitOf(q.limit, 50));
      const rows = await query(
        `SELECT * FROM ${t('runs')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(runFromRow);
    },
  };
}
