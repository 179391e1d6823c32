/**
 * The model registry. Every registration and transition of one model first
 * locks that model's row in `models`, so they queue one after the other; the
 * stage rule itself is `planStageTransition` from `@cairn/core`.
 */
import type { ModelRegistry, ModelStage, StageTransition } from '@cairn/core';
import {
  planStageTransition,
  validateRegisterModelInput,
  validateTransitionInput,
} from '@cairn/runtime/plugin-kit';
import type { Connection } from './connection';
import { json, versionFromRow } from './rows';

export function registry(db: Connection): ModelRegistry {
  const { t, query, transaction } = db;
  return {
    async registerModel(input) {
      validateRegisterModelInput(input);
      return transaction(async (db) => {
        // The models row is the lock every registration and transition of one model takes first.
        await db.query(`INSERT INTO ${t('models')} (model) VALUES ($1) ON CONFLICT (model) DO NOTHING`, [
          input.model,
        ]);
        await db.query(`SELECT model FROM ${t('models')} WHERE model = $1 FOR UPDATE`, [input.model]);
        const existing = await db.query(
          `SELECT * FROM ${t('model_versions')} WHERE model = $1 AND digest = $2`,
          [input.model, input.digest],
        );
        if (existing.rows[0]) return versionFromRow(existing.rows[0]);
        const inserted = await db.query(
          `INSERT INTO ${t('model_versions')} (model, version, digest, stage, metrics, run_id, created_at, description)
           SELECT $1, coalesce(max(version), 0) + 1, $2, 'none', $3::json, $4, $5, $6
           FROM ${t('model_versions')} WHERE model = $1
           RETURNING *`,
          [
            input.model,
            input.digest,
            json(input.metrics ?? {}),
            input.runId ?? null,
            new Date().toISOString(),
            input.description ?? null,
          ],
        );
        return versionFromRow(inserted.rows[0]!);
      });
    },

    async getModelVersion(model, version) {
      const rows = await query(`SELECT * FROM ${t('model_versions')} WHERE model = $1 AND version = $2`, [
        model,
        version,
      ]);
      return rows[0] ? versionFromRow(rows[0]) : undefined;
    },

    async listModelVersions(model) {
      const rows = await query(
        `SELECT * FROM ${t('model_versions')} WHERE model = $1 ORDER BY version DESC`,
        [model],
      );
      return rows.map(versionFromRow);
    },

    async listModels() {
      const rows = await query(
        `SELECT model, max(version) AS latest,
                min(version) FILTER (WHERE stage = 'production') AS production,
                min(version) FILTER (WHERE stage = 'staging') AS staging
         FROM ${t('model_versions')} GROUP BY model ORDER BY model COLLATE "C"`,
      );
      return rows.map((row) => {
        const entry: { model: string; latest: number; production?: number; staging?: number } = {
          model: row.model,
          latest: row.latest,
        };
        if (row.production !== null) entry.production = row.production;
        if (row.staging !== null) entry.staging = row.staging;
        return entry;
      });
    },

    async getModelByStage(model, stage) {
      // With archivePrevious: false two versions may share a stage; the newest wins.
      const rows = await query(
        `SELECT * FROM ${t('model_versions')} WHERE model = $1 AND stage = $2 ORDER BY version DESC LIMIT 1`,
        [model, stage],
      );
      return rows[0] ? versionFromRow(rows[0]) : undefined;
    },

    async transitionStage(input) {
      validateTransitionInput(input);
      const plan = await transaction(async (db) => {
        // Lock order: the model, then the version, then the current holders of the target stage.
        // Every transition of a model queues on the first lock, so each sees the one before it.
        const model = await db.query(`SELECT model FROM ${t('models')} WHERE model = $1 FOR UPDATE`, [
          input.model,
        ]);
        const row = model.rowCount
          ? (
              await db.query(
                `SELECT stage FROM ${t('model_versions')} WHERE model = $1 AND version = $2 FOR UPDATE`,
                [input.model, input.version],
              )
            ).rows[0]
          : undefined;
        const holders = row
          ? (
              await db.query<{ version: number; stage: ModelStage }>(
                `SELECT version, stage FROM ${t('model_versions')}
                 WHERE model = $1 AND stage = $2 AND version <> $3 ORDER BY version FOR UPDATE`,
                [input.model, input.to, input.version],
              )
            ).rows
          : [];
        // An unknown version throws here and rolls back; a refused attempt is committed, and thrown after.
        const decided = planStageTransition(input, { current: row?.stage, holders });
        for (const tr of decided.transitions) {
          if (tr.accepted) {
            await db.query(`UPDATE ${t('model_versions')} SET stage = $3 WHERE model = $1 AND version = $2`, [
              tr.model,
              tr.version,
              tr.to,
            ]);
          }
          await db.query(
            `INSERT INTO ${t('stage_transitions')} (model, version, from_stage, to_stage, reason, actor, at, accepted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [tr.model, tr.version, tr.from, tr.to, tr.reason, tr.actor, tr.at, tr.accepted],
          );
        }
        return decided;
      });
      if (plan.conflict) throw plan.conflict;
      return plan.transitions.at(-1)!;
    },

    async modelHistory(model) {
      const rows = await query(`SELECT * FROM ${t('stage_transitions')} WHERE model = $1 ORDER BY seq`, [
        model,
      ]);
      return rows.map(
        (row): StageTransition => ({
          model: row.model,
          version: row.version,
          from: row.from_stage,
          to: row.to_stage,
          reason: row.reason,
          actor: row.actor,
          at: row.at,
          accepted: row.accepted,
        }),
      );
    },
  };
}
