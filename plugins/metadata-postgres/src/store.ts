import {
  type ArtifactQuery,
  type ArtifactRecord,
  assertDigest,
  type CacheEntry,
  CairnError,
  ErrorCodes,
  type ExecutionRecord,
  type MetadataStore,
  type ModelStage,
  type ModelVersion,
  type PluginRef,
  type RunQuery,
  type RunRecord,
  type StageTransition,
} from '@cairn/core';
import {
  incumbentConflict,
  validateExecutionRecord,
  validateRegisterModelInput,
  validateRunRecord,
  validateTransitionInput,
  walkLineage,
} from '@cairn/runtime/plugin-kit';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { isConnectionBroken, isRetryable, toCairnError } from './errors';
import { migrations } from './migrations';
import { type Endpoint, parseUrl, type ResolvedOptions, resolveUrl } from './options';

const PLUGIN = '@cairn/metadata-postgres';
const LATEST = Math.max(...migrations.map((m) => m.version));
/** Deadlocks and serialization failures are retried this many times before giving up. */
const MAX_ATTEMPTS = 4;

type Row = QueryResultRow;
type Db = Pick<PoolClient, 'query'>;

/** The store object `postgresMetadata()` returns; connects on first use. */
export function createStore(options: ResolvedOptions, ref: PluginRef): MetadataStore {
  const s = `"${options.schema}"`;
  const t = (table: string) => `${s}.${table}`;

  let pool: Pool | undefined;
  let endpoint: Endpoint | undefined;
  let ready: Promise<Pool> | undefined;
  let closed = false;

  const fail = (error: unknown): CairnError =>
    endpoint
      ? toCairnError(error, endpoint, options)
      : CairnError.is(error)
        ? error
        : new CairnError(
            ErrorCodes.METADATA_FAILED,
            `${PLUGIN}: ${String((error as Error)?.message ?? error)}`,
          );

  async function open(): Promise<Pool> {
    const url = resolveUrl(options.url);
    endpoint = parseUrl(url, (message) => {
      return new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `${PLUGIN}: option "url" (after resolving \${env:…} references) ${message}`,
      );
    });
    endpoint.password ??= process.env.PGPASSWORD || undefined;
    // Loaded here, not at import: importing the plugin costs nothing until it is used.
    const pg = (await import('pg')).default;
    const created = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
      keepAlive: true,
      application_name: 'cairn',
      ...(options.statementTimeoutMs > 0
        ? {
            statement_timeout: options.statementTimeoutMs,
            // A server that stops answering never cancels anything: give up on our side too.
            query_timeout: options.statementTimeoutMs + options.connectTimeoutMs,
          }
        : {}),
    });
    // An idle connection the server drops emits here; without a listener it would crash the process.
    // The pool discards that client and the next query opens a new one.
    created.on('error', () => {});
    pool = created;
    try {
      await migrate(created);
    } catch (error) {
      pool = undefined;
      await created.end().catch(() => {});
      throw error;
    }
    return created;
  }

  function connect(): Promise<Pool> {
    if (closed) {
      return Promise.reject(new CairnError(ErrorCodes.METADATA_FAILED, `${PLUGIN}: the store is closed`));
    }
    if (!ready) {
      ready = open().catch((error) => {
        // Forget the failure so that a later call retries (the server may come up).
        ready = undefined;
        throw fail(error);
      });
    }
    return ready;
  }

  async function query<R extends Row = Row>(sql: string, params: unknown[] = []): Promise<R[]> {
    const db = await connect();
    try {
      return (await db.query<R>(sql, params)).rows;
    } catch (error) {
      throw fail(error);
    }
  }

  /**
   * Run `fn` in one transaction on one pooled connection; commit, or roll back
   * and rethrow. Deadlocks and serialization failures are retried whole.
   */
  async function transaction<T>(fn: (db: Db) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const db = await connect();
    return inTransaction(db, fn, begin);
  }

  async function inTransaction<T>(db: Pool, fn: (client: Db) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await db.connect();
      } catch (error) {
        throw fail(error);
      }
      let broken: Error | undefined;
      try {
        await client.query(begin);
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        if (isConnectionBroken(error)) broken = error as Error;
        else {
          await client.query('ROLLBACK').catch((rollbackError: Error) => {
            broken = rollbackError;
          });
        }
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) continue;
        throw fail(error);
      } finally {
        client.release(broken);
      }
    }
  }

  async function migrate(db: Pool): Promise<void> {
    // Fast path: an up-to-date schema needs no lock and no DDL privilege.
    try {
      const rows = (
        await db.query(`SELECT coalesce(max(version), 0)::int AS version FROM ${t('schema_migrations')}`)
      ).rows;
      const current = rows[0]?.version as number;
      checkNotNewer(current);
      if (current === LATEST) return;
    } catch (error) {
      // 42P01: no schema_migrations table yet; 3F000: no schema yet. Anything else is real.
      const code = (error as { code?: string }).code;
      if (code !== '42P01' && code !== '3F000') throw error;
    }
    await inTransaction(db, async (c) => {
      // Every process starting at once queues here; the first migrates, the rest find nothing to do.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
        'cairn:migrations',
        options.schema,
      ]);
      const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema]);
      // CREATE SCHEMA IF NOT EXISTS would still demand the CREATE privilege when the schema exists.
      if (exists.rowCount === 0) await c.query(`CREATE SCHEMA ${s}`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${t('schema_migrations')} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const applied = new Set(
        (await c.query<{ version: number }>(`SELECT version FROM ${t('schema_migrations')}`)).rows.map(
          (r) => r.version,
        ),
      );
      checkNotNewer(Math.max(0, ...applied));
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue;
        await c.query(migration.sql.replaceAll('{s}', s));
        await c.query(`INSERT INTO ${t('schema_migrations')} (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
      }
    });
  }

  function checkNotNewer(current: number): void {
    if (current > LATEST) {
      throw new CairnError(
        ErrorCodes.METADATA_FAILED,
        `PostgreSQL at ${endpoint?.label}: schema "${options.schema}" is at migration ${current}, newer than this ${PLUGIN} knows (${LATEST})`,
        { hint: `Upgrade ${PLUGIN} to the version the other processes use.` },
      );
    }
  }

  return {
    kind: 'metadata',
    name: 'postgres',
    ref,

    async init() {
      await connect();
    },

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

    async recordExecution(execution, artifacts) {
      validateExecutionRecord(execution, artifacts);
      await transaction(async (db) => {
        const inserted = await db.query(
          `INSERT INTO ${t('executions')} (id, run_id, step, status, cache_key, cacheable, cached_from, inputs, outputs,
             config_digest, started_at, finished_at, duration_ms, attempts, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9::json, $10, $11, $12, $13, $14, $15::json)
           ON CONFLICT (id) DO NOTHING`,
          [
            execution.id,
            execution.runId,
            execution.step,
            execution.status,
            execution.cacheKey,
            execution.cacheable,
            execution.cachedFrom ?? null,
            json(execution.inputs ?? {}),
            json(execution.outputs ?? {}),
            execution.configDigest ?? null,
            execution.startedAt,
            execution.finishedAt ?? null,
            execution.durationMs ?? null,
            execution.attempts,
            json(execution.error),
          ],
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
      const actor = input.actor ?? 'unknown';
      const outcome = await transaction(async (db) => {
        // Lock order: the model, then the version, then the current holders of the target stage.
        // Every transition of a model queues on the first lock, so each sees the one before it.
        const model = await db.query(`SELECT model FROM ${t('models')} WHERE model = $1 FOR UPDATE`, [
          input.model,
        ]);
        const row = model.rowCount
          ? (
              await db.query(
                `SELECT * FROM ${t('model_versions')} WHERE model = $1 AND version = $2 FOR UPDATE`,
                [input.model, input.version],
              )
            ).rows[0]
          : undefined;
        if (!row) {
          throw new CairnError(
            ErrorCodes.METADATA_NOT_FOUND,
            `Model "${input.model}" has no version ${input.version}`,
          );
        }
        const at = new Date().toISOString();
        const transition = (
          version: number,
          from: ModelStage,
          to: ModelStage,
          accepted: boolean,
        ): StageTransition => ({
          model: input.model,
          version,
          from,
          to,
          reason: input.reason,
          actor,
          at,
          accepted,
        });
        const record = (tr: StageTransition) =>
          db.query(
            `INSERT INTO ${t('stage_transitions')} (model, version, from_stage, to_stage, reason, actor, at, accepted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [tr.model, tr.version, tr.from, tr.to, tr.reason, tr.actor, tr.at, tr.accepted],
          );

        const current = row.stage as ModelStage;
        // Committed on its own: a refusing transaction changes nothing else, so the attempt stays in history.
        const refuse = async (message: string) => {
          await record(transition(input.version, current, input.to, false));
          return { refused: message };
        };
        if (input.expectedFrom !== undefined && input.expectedFrom !== current) {
          return refuse(
            `Model "${input.model}" version ${input.version} is in stage "${current}", not "${input.expectedFrom}"`,
          );
        }
        const archive =
          (input.archivePrevious ?? true) && (input.to === 'production' || input.to === 'staging');
        const holders =
          archive || input.expectedIncumbent !== undefined
            ? (
                await db.query(
                  `SELECT version, stage FROM ${t('model_versions')}
                   WHERE model = $1 AND stage = $2 AND version <> $3 ORDER BY version FOR UPDATE`,
                  [input.model, input.to, input.version],
                )
              ).rows
            : [];
        if (input.expectedIncumbent !== undefined) {
          const incumbent = holders.length > 0 ? Math.max(...holders.map((h) => h.version as number)) : null;
          if (incumbent !== input.expectedIncumbent) return refuse(incumbentConflict(input, incumbent));
        }
        if (archive) {
          for (const holder of holders) {
            await db.query(
              `UPDATE ${t('model_versions')} SET stage = 'archived' WHERE model = $1 AND version = $2`,
              [input.model, holder.version],
            );
            await record(transition(holder.version, holder.stage, 'archived', true));
          }
        }
        await db.query(`UPDATE ${t('model_versions')} SET stage = $3 WHERE model = $1 AND version = $2`, [
          input.model,
          input.version,
          input.to,
        ]);
        const done = transition(input.version, current, input.to, true);
        await record(done);
        return { done };
      });
      if ('refused' in outcome) {
        throw new CairnError(ErrorCodes.REGISTRY_CONFLICT, outcome.refused, {
          hint: 'Another transition got there first; read the model history and decide again.',
        });
      }
      return outcome.done;
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

    async close() {
      if (closed) return;
      closed = true;
      const pending = ready;
      ready = undefined;
      const db = pool ?? (await pending?.catch(() => undefined));
      pool = undefined;
      await db?.end();
    },
  };
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function limitOf(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : fallback;
}

function runFromRow(row: Row): RunRecord {
  const run: RunRecord = {
    id: row.id,
    pipeline: row.pipeline,
    env: row.env,
    status: row.status,
    startedAt: row.started_at,
    versions: row.versions,
    configs: row.configs,
  };
  if (row.finished_at !== null) run.finishedAt = row.finished_at;
  if (row.git !== null) run.git = row.git;
  if (row.counts !== null) run.counts = row.counts;
  if (row.tags !== null) run.tags = row.tags;
  if (row.host !== null) run.host = row.host;
  if (row.error !== null) run.error = row.error;
  if (row.config_bundle !== null && row.config_bundle !== undefined) run.configBundle = row.config_bundle;
  return run;
}

function executionFromRow(row: Row): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    runId: row.run_id,
    step: row.step,
    status: row.status,
    cacheKey: row.cache_key,
    cacheable: row.cacheable,
    inputs: row.inputs,
    outputs: row.outputs,
    startedAt: row.started_at,
    attempts: row.attempts,
  };
  if (row.cached_from !== null) execution.cachedFrom = row.cached_from;
  if (row.config_digest !== null) execution.configDigest = row.config_digest;
  if (row.finished_at !== null) execution.finishedAt = row.finished_at;
  if (row.duration_ms !== null) execution.durationMs = row.duration_ms;
  if (row.error !== null) execution.error = row.error;
  return execution;
}

function artifactFromRow(row: Row): ArtifactRecord {
  const record: ArtifactRecord = {
    digest: row.digest,
    type: row.type,
    // bigint arrives as a string; artifact sizes stay far below 2^53.
    size: Number(row.size),
    createdAt: row.created_at,
  };
  if (row.metadata !== null) record.metadata = row.metadata;
  if (row.producer_execution_id !== null) {
    record.producer = {
      runId: row.producer_run_id,
      step: row.producer_step,
      output: row.producer_output,
      executionId: row.producer_execution_id,
    };
  }
  return record;
}

function versionFromRow(row: Row): ModelVersion {
  const version: ModelVersion = {
    model: row.model,
    version: row.version,
    digest: row.digest,
    stage: row.stage,
    metrics: row.metrics,
    createdAt: row.created_at,
  };
  if (row.run_id !== null) version.runId = row.run_id;
  if (row.description !== null) version.description = row.description;
  return version;
}
