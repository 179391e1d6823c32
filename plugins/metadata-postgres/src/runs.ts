/** Runs: one row per pipeline run, newest first by id. */
import { CairnError, ErrorCodes, type MetadataStore, type RunQuery } from '@cairn/core';
import { validateRunRecord } from '@cairn/runtime/plugin-kit';
import type { Connection } from './connection';
import { json, limitOf, runFromRow } from './rows';

export function runs(db: Connection): Pick<MetadataStore, 'createRun' | 'updateRun' | 'getRun' | 'listRuns'> {
  const { t, query } = db;
  return {
    async createRun(run) {
      validateRunRecord(run);
      const rows = await query(
        `INSERT INTO ${t('runs')} (id, pipeline, env, status, started_at, finished_at, git, versions, configs, counts, tags, host, error, config_bundle)
         VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9::json, $10::json, $11::json, $12::json, $13, $14)
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
