/**
 * @cairn/metadata-sqlite — the embedded metadata store: one SQLite file in
 * WAL mode, safe for several processes of one machine.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import {
  type ArtifactQuery,
  type ArtifactRecord,
  type ArtifactRef,
  assertDigest,
  type CacheEntry,
  CairnError,
  ErrorCodes,
  type ExecutionRecord,
  type MetadataStore,
  type ModelStage,
  type ModelVersion,
  type RegisterModelInput,
  type RunQuery,
  type RunRecord,
  type StageTransition,
  type TransitionInput,
} from '@cairn/core';
import {
  EXECUTION_COLUMNS,
  executionValues,
  parsePluginOptions,
  planStageTransition,
  type StageTransitionPlan,
  validateAbandonMark,
  validateExecutionRecord,
  validateLease,
  validateRegisterModelInput,
  validateRunRecord,
  validateTransitionInput,
  walkLineage,
} from '@cairn/runtime/plugin-kit';
import type BetterSqlite3 from 'better-sqlite3';
import { appliedVersion, latestVersion, migrate } from './migrations';
import { EDGES_OF } from './queries';

const PLUGIN = 'sqliteMetadata';
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The options' zod schema, for invalid options only (see {@link normalizeOptions}):
 * loading zod costs a process start 50–100 ms, and valid options never need it.
 */
function optionsSchema() {
  const { z } = createRequire(import.meta.url)('zod') as typeof import('zod');
  return z.strictObject(
    {
      file: z
        .string({ error: 'must be a non-empty file path' })
        .refine((file) => file.trim() !== '' && !file.includes('\0'), {
          error: 'must be a non-empty file path',
        })
        .default('.cairn/metadata.db'),
      busyTimeoutMs: z
        .number({ error: 'must be a non-negative integer of milliseconds' })
        .int({ error: 'must be a non-negative integer of milliseconds' })
        .min(0, { error: 'must be a non-negative integer of milliseconds' })
        .max(MAX_TIMER_MS, { error: `must be at most ${MAX_TIMER_MS} milliseconds` })
        .default(5000),
      readonly: z.boolean({ error: 'must be a boolean' }).default(false),
    },
    { error: 'must be a file path or an options object' },
  );
}

const OPTION_NAMES = new Set(['file', 'busyTimeoutMs', 'readonly']);

/**
 * The options with defaults applied when every one is valid, exactly as the
 * schema would give them; `undefined` for anything the schema must judge
 * (it then names the problem).
 */
function validOptions(given: unknown): Required<SqliteMetadataOptions> | undefined {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return undefined;
  const proto = Object.getPrototypeOf(given);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const {
    file = '.cairn/metadata.db',
    busyTimeoutMs = 5000,
    readonly = false,
  } = given as SqliteMetadataOptions;
  if (Object.keys(given).some((key) => !OPTION_NAMES.has(key))) return undefined;
  if (typeof file !== 'string' || file.trim() === '' || file.includes('\0')) return undefined;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > MAX_TIMER_MS) return undefined;
  if (typeof readonly !== 'boolean') return undefined;
  return { file, busyTimeoutMs, readonly };
}

export interface SqliteMetadataOptions {
  /**
   * The database file, resolved against the working directory when the
   * factory is called. Its folder is created on first use.
   * @default '.cairn/metadata.db'
   */
  file?: string;
  /**
   * How long a write waits for another process's transaction before failing.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /** Open read-only: no migrations, every write fails. @default false */
  readonly?: boolean;
}

function normalizeOptions(
  input: SqliteMetadataOptions | string | undefined,
): Required<SqliteMetadataOptions> {
  const given = typeof input === 'string' ? { file: input } : (input ?? {});
  const options = validOptions(given) ?? parsePluginOptions(PLUGIN, optionsSchema(), given);
  return { ...options, file: options.file === ':memory:' ? options.file : resolve(options.file) };
}

// --- rows ↔ records --------------------------------------------------------

interface RunRow {
  id: string;
  pipeline: string;
  env: string;
  status: RunRecord['status'];
  started_at: string;
  finished_at: string | null;
  git: string | null;
  versions: string;
  configs: string;
  config_bundle: string | null;
  counts: string | null;
  tags: string | null;
  host: string | null;
  error: string | null;
  heartbeat_at: string | null;
  lease_expires_at: string | null;
}

interface ExecutionRow {
  seq: number;
  id: string;
  run_id: string;
  step: string;
  status: ExecutionRecord['status'];
  cache_key: string;
  cacheable: number;
  cached_from: string | null;
  inputs: string;
  outputs: string;
  config_digest: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  attempts: number;
  error: string | null;
  reason: string | null;
}

interface ArtifactRow {
  digest: string;
  type: string;
  size: number;
  metadata: string | null;
  producer: string | null;
  created_at: string;
}

interface ModelRow {
  model: string;
  version: number;
  digest: string;
  stage: ModelStage;
  metrics: string;
  run_id: string | null;
  created_at: string;
  description: string | null;
}

interface TransitionRow {
  model: string;
  version: number;
  from_stage: ModelStage;
  to_stage: ModelStage;
  reason: string;
  actor: string;
  at: string;
  accepted: number;
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

function toRun(row: RunRow): RunRecord {
  const run: RunRecord = {
    id: row.id,
    pipeline: row.pipeline,
    env: row.env,
    status: row.status,
    startedAt: row.started_at,
    versions: JSON.parse(row.versions),
    configs: JSON.parse(row.configs),
  };
  if (row.finished_at !== null) run.finishedAt = row.finished_at;
  if (row.git !== null) run.git = JSON.parse(row.git);
  if (row.counts !== null) run.counts = JSON.parse(row.counts);
  if (row.tags !== null) run.tags = JSON.parse(row.tags);
  if (row.host !== null) run.host = JSON.parse(row.host);
  // '' is a cleared error (updateRun's way to remove one).
  if (row.error !== null && row.error !== '') run.error = row.error;
  if (row.config_bundle !== null) run.configBundle = row.config_bundle;
  if (row.heartbeat_at !== null && row.lease_expires_at !== null)
    run.lease = { heartbeatAt: row.heartbeat_at, expiresAt: row.lease_expires_at };
  return run;
}

function toExecution(row: ExecutionRow): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    runId: row.run_id,
    step: row.step,
    status: row.status,
    cacheKey: row.cache_key,
    cacheable: row.cacheable === 1,
    inputs: JSON.parse(row.inputs),
    outputs: JSON.parse(row.outputs),
    startedAt: row.started_at,
    attempts: row.attempts,
  };
  if (row.cached_from !== null) execution.cachedFrom = row.cached_from;
  if (row.config_digest !== null) execution.configDigest = row.config_digest;
  if (row.finished_at !== null) execution.finishedAt = row.finished_at;
  if (row.duration_ms !== null) execution.durationMs = row.duration_ms;
  if (row.error !== null) execution.error = JSON.parse(row.error);
  if (row.reason !== null) execution.reason = row.reason;
  return execution;
}

function toArtifact(row: ArtifactRow): ArtifactRecord {
  const artifact: ArtifactRecord = {
    digest: row.digest,
    type: row.type,
    size: row.size,
    createdAt: row.created_at,
  };
  if (row.metadata !== null) artifact.metadata = JSON.parse(row.metadata);
  if (row.producer !== null) artifact.producer = JSON.parse(row.producer);
  return artifact;
}

function toModel(row: ModelRow): ModelVersion {
  const version: ModelVersion = {
    model: row.model,
    version: row.version,
    digest: row.digest,
    stage: row.stage,
    metrics: JSON.parse(row.metrics),
    createdAt: row.created_at,
  };
  if (row.run_id !== null) version.runId = row.run_id;
  if (row.description !== null) version.description = row.description;
  return version;
}

function toTransition(row: TransitionRow): StageTransition {
  return {
    model: row.model,
    version: row.version,
    from: row.from_stage,
    to: row.to_stage,
    reason: row.reason,
    actor: row.actor,
    at: row.at,
    accepted: row.accepted === 1,
  };
}

// --- the connection ----------------------------------------------------------

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

const INPUTS_AT = EXECUTION_COLUMNS.indexOf('inputs');
const OUTPUTS_AT = EXECUTION_COLUMNS.indexOf('outputs');

/** Every statement the store runs, prepared once per connection. */
function prepare(db: Db) {
  return {
    insertRun: db.prepare(
      `INSERT INTO runs (id, pipeline, env, status, started_at, finished_at, git, versions, configs, config_bundle, counts, tags, host, error,
       heartbeat_at, lease_expires_at)
       VALUES (@id, @pipeline, @env, @status, @started_at, @finished_at, @git, @versions, @configs, @config_bundle, @counts, @tags, @host, @error,
       @heartbeat_at, @lease_expires_at)`,
    ),
    heartbeat: db.prepare(
      `UPDATE runs SET heartbeat_at = @heartbeat_at, lease_expires_at = @lease_expires_at
       WHERE id = @id AND status = 'running'`,
    ),
    // One statement: the check (still running, lease expired) and the write cannot be split by a heartbeat.
    abandonRun: db.prepare(
      `UPDATE runs SET status = 'failed', finished_at = @finished_at, error = @error
       WHERE id = @id AND status = 'running'
       AND (@expired_by IS NULL OR (lease_expires_at IS NOT NULL AND lease_expires_at < @expired_by))`,
    ),
    runExists: db.prepare('SELECT 1 FROM runs WHERE id = ?').pluck(),
    updateRun: db.prepare(
      `UPDATE runs SET status = coalesce(@status, status), finished_at = coalesce(@finished_at, finished_at),
       counts = coalesce(@counts, counts), error = coalesce(@error, error) WHERE id = @id`,
    ),
    getRun: db.prepare('SELECT * FROM runs WHERE id = ?'),
    // Positional parameters: binding an array is cheaper than looking up 16 named properties per row.
    insertExecution: db.prepare(
      `INSERT INTO executions (${EXECUTION_COLUMNS.join(', ')}, edges_from)
       VALUES (${EXECUTION_COLUMNS.map(() => '?').join(', ')}, ?)`,
    ),
    // What a cached execution's edges would be borrowed from (see `write`).
    edgesSource: db.prepare('SELECT inputs, outputs, edges_from FROM executions WHERE id = ?').raw(),
    insertArtifact: db.prepare(
      `INSERT INTO artifacts (digest, type, size, metadata, producer, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING`,
    ),
    insertEdge: db.prepare(
      'INSERT INTO execution_artifacts (execution_id, role, name, digest) VALUES (?, ?, ?, ?)',
    ),
    upsertCache: db.prepare(
      `INSERT INTO cache_entries (cache_key, execution_id, run_id, outputs, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (cache_key) DO UPDATE SET execution_id = excluded.execution_id, run_id = excluded.run_id,
       outputs = excluded.outputs, created_at = excluded.created_at`,
    ),
    listExecutions: db.prepare('SELECT * FROM executions WHERE run_id = ? ORDER BY seq'),
    runExecutionIds: db.prepare('SELECT id FROM executions WHERE run_id = ? ORDER BY seq').pluck(),
    getExecution: db.prepare('SELECT * FROM executions WHERE id = ?'),
    lookupCache: db.prepare('SELECT * FROM cache_entries WHERE cache_key = ?'),
    invalidateCache: db.prepare('DELETE FROM cache_entries WHERE cache_key = ?'),
    getArtifact: db.prepare('SELECT * FROM artifacts WHERE digest = ?'),
    edgesOf: db.prepare(EDGES_OF).pluck(),
    findModelByDigest: db.prepare('SELECT * FROM model_versions WHERE model = ? AND digest = ?'),
    maxModelVersion: db
      .prepare('SELECT coalesce(max(version), 0) FROM model_versions WHERE model = ?')
      .pluck(),
    insertModel: db.prepare(
      `INSERT INTO model_versions (model, version, digest, stage, metrics, run_id, created_at, description)
       VALUES (@model, @version, @digest, 'none', @metrics, @run_id, @created_at, @description)`,
    ),
    getModel: db.prepare('SELECT * FROM model_versions WHERE model = ? AND version = ?'),
    listModelVersions: db.prepare('SELECT * FROM model_versions WHERE model = ? ORDER BY version DESC'),
    listModels: db.prepare(
      `SELECT model, max(version) AS latest,
       max(CASE WHEN stage = 'production' THEN version END) AS production,
       max(CASE WHEN stage = 'staging' THEN version END) AS staging
       FROM model_versions GROUP BY model ORDER BY model`,
    ),
    byStage: db.prepare(
      'SELECT * FROM model_versions WHERE model = ? AND stage = ? ORDER BY version DESC LIMIT 1',
    ),
    holdersOfStage: db.prepare('SELECT * FROM model_versions WHERE model = ? AND stage = ? AND version <> ?'),
    setStage: db.prepare('UPDATE model_versions SET stage = ? WHERE model = ? AND version = ?'),
    insertTransition: db.prepare(
      `INSERT INTO stage_transitions (model, version, from_stage, to_stage, reason, actor, at, accepted)
       VALUES (@model, @version, @from_stage, @to_stage, @reason, @actor, @at, @accepted)`,
    ),
    history: db.prepare('SELECT * FROM stage_transitions WHERE model = ? ORDER BY seq'),
  };
}

type Statements = ReturnType<typeof prepare>;

/**
 * The three writes, each one transaction, wrapped once per connection. Callers
 * run them with `.immediate()`: taking the write lock up front means a busy
 * writer waits (busy timeout) instead of failing on a lock upgrade.
 */
/**
 * Records queued for the next turn of the event loop that are committed at once instead. A caller
 * can queue records faster than the loop turns: a run decides its cached steps without I/O, one
 * after the other, and the loop turns only when it is done. Held until then, every record, with
 * the run's objects it names and the events waiting for its commit, outlived one or two young
 * garbage collections and was copied by each (a 1,000-step cached run: 48 -> 37 ms of GC).
 */
const FLUSH_AT_RECORDS = 256;

/** An execution waiting in the write queue, and the promise its caller awaits. */
interface PendingRecord {
  execution: ExecutionRecord;
  artifacts: ArtifactRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Most entries {@link ServedEntries} holds; past it, it starts again (a lookup not followed by a reuse stays in it). */
const MAX_SERVED = 50_000;

/**
 * The cache entries this store's lookups answered, execution id → cache key. A cached execution
 * recorded under the key a lookup answered with its source has the source's edges: a cache key is
 * a digest of the step's name, code, config and input digests (`ExecutionRecord.cacheKey`), its
 * outputs are the entry's, and an entry's execution is a succeeded one, which owns its edges. So it
 * borrows them without reading the source's row: one indexed read less per cached step of a no-op
 * run (a 10,000-step no-op: pread calls 9,098 -> 6,966).
 */
class ServedEntries {
  private readonly keys = new Map<string, string>();

  served(executionId: string, cacheKey: string): void {
    if (this.keys.size >= MAX_SERVED) this.keys.clear();
    this.keys.set(executionId, cacheKey);
  }

  /** Whether `execution` reuses an entry a lookup answered, under that entry's key (asked once per lookup). */
  reuses(execution: ExecutionRecord): boolean {
    const key = this.keys.get(execution.cachedFrom!);
    if (key === undefined || key !== execution.cacheKey) return false;
    this.keys.delete(execution.cachedFrom!);
    return true;
  }
}

function writers(db: Db, sql: Statements, served: ServedEntries) {
  /**
   * One execution and its artifacts. `inserted` holds the digests this transaction already
   * inserted: every record of a run names the run's config bundle, and inserting it again is
   * a no-op (ON CONFLICT DO NOTHING) that still costs a statement and two JSON encodings.
   */
  const write = (execution: ExecutionRecord, artifacts: ArtifactRecord[], inserted?: Set<string>) => {
    const values = executionValues(execution, (cacheable) => (cacheable ? 1 : 0));
    // A cached execution whose inputs and outputs are those of the execution it reuses has the same
    // edges: it borrows them (edges_from) instead of writing its own rows — most of what a no-op
    // rerun writes. The lineage queries read the borrowed edges as its own. Known from the entry a
    // lookup served (see ServedEntries), else read from the source's row.
    let edgesFrom: string | null = null;
    if (execution.status === 'cached' && execution.cachedFrom !== undefined) {
      if (served.reuses(execution)) edgesFrom = execution.cachedFrom;
      else {
        const source = sql.edgesSource.get(execution.cachedFrom) as
          | [string, string, string | null]
          | undefined;
        if (source && source[0] === values[INPUTS_AT] && source[1] === values[OUTPUTS_AT])
          edgesFrom = source[2] ?? execution.cachedFrom;
      }
    }
    values.push(edgesFrom);
    sql.insertExecution.run(...values);
    for (const artifact of artifacts) {
      if (inserted) {
        if (inserted.has(artifact.digest)) continue;
        inserted.add(artifact.digest);
      }
      sql.insertArtifact.run(
        artifact.digest,
        artifact.type,
        artifact.size,
        json(artifact.metadata),
        json(artifact.producer),
        artifact.createdAt,
      );
    }
    if (edgesFrom === null) {
      for (const [name, ref] of Object.entries(execution.inputs ?? {})) {
        sql.insertEdge.run(execution.id, 'input', name, ref.digest);
      }
      for (const [name, ref] of Object.entries(execution.outputs ?? {})) {
        sql.insertEdge.run(execution.id, 'output', name, ref.digest);
      }
    }
    if (execution.status === 'succeeded' && execution.cacheable) {
      sql.upsertCache.run(
        execution.cacheKey,
        execution.id,
        execution.runId,
        JSON.stringify(execution.outputs ?? {}),
        new Date().toISOString(),
      );
    }
  };
  return {
    record: db.transaction((execution: ExecutionRecord, artifacts: ArtifactRecord[]) =>
      write(execution, artifacts),
    ),
    /**
     * Several executions in one transaction. The writes run directly, not as nested
     * transactions: each of those is a savepoint with a statement journal. A failure
     * rolls back the whole batch, and the caller retries its records one by one.
     */
    recordMany: db.transaction((batch: readonly PendingRecord[]) => {
      const inserted = new Set<string>();
      for (const item of batch) write(item.execution, item.artifacts, inserted);
    }),
    register: db.transaction((input: RegisterModelInput): ModelVersion => {
      const existing = sql.findModelByDigest.get(input.model, input.digest) as ModelRow | undefined;
      if (existing) return toModel(existing);
      const version = (sql.maxModelVersion.get(input.model) as number) + 1;
      sql.insertModel.run({
        model: input.model,
        version,
        digest: input.digest,
        metrics: JSON.stringify(input.metrics ?? {}),
        run_id: input.runId ?? null,
        created_at: new Date().toISOString(),
        description: input.description ?? null,
      });
      return toModel(sql.getModel.get(input.model, version) as ModelRow);
    }),
    // The shared rule decides; this transaction reads its state and applies the plan. An unknown
    // version throws inside and rolls back; a refused attempt is committed, and thrown after.
    transition: db.transaction((input: TransitionInput): StageTransitionPlan => {
      const row = sql.getModel.get(input.model, input.version) as ModelRow | undefined;
      const holders = row ? (sql.holdersOfStage.all(input.model, input.to, input.version) as ModelRow[]) : [];
      const plan = planStageTransition(input, { current: row?.stage, holders });
      for (const t of plan.transitions) {
        if (t.accepted) sql.setStage.run(t.to, t.model, t.version);
        sql.insertTransition.run({
          model: t.model,
          version: t.version,
          from_stage: t.from,
          to_stage: t.to,
          reason: t.reason,
          actor: t.actor,
          at: t.at,
          accepted: t.accepted ? 1 : 0,
        });
      }
      return plan;
    }),
  };
}

interface Connection {
  db: Db;
  sql: Statements;
  tx: ReturnType<typeof writers>;
  /** The cache entries its lookups answered (see ServedEntries). */
  served: ServedEntries;
  /** listRuns/listArtifacts statements per filter combination, prepared on first use. */
  dynamic: Map<string, Statement>;
}

/** better-sqlite3 and its compiled addon, once per process (see {@link loadDriver}). */
let driver: { Database: typeof BetterSqlite3; addon: string | undefined } | undefined;

/**
 * better-sqlite3, loaded with `require`: it is CommonJS, and an `import()` of it had Node's ESM
 * loader resolve it a second time, run its CommonJS export lexer over the package's sources and
 * wrap it in a module record, a few ms of every process that opens a store. With it, the path of
 * its compiled addon for `new Database`'s `nativeBinding` where its package has it: without that,
 * better-sqlite3 asks the `bindings` package, which tries a dozen places in turn. `addon` is
 * undefined when the addon is elsewhere (a debug build). Throws when better-sqlite3 is missing.
 */
function loadDriver(): { Database: typeof BetterSqlite3; addon: string | undefined } {
  if (driver) return driver;
  const requireCjs = createRequire(import.meta.url);
  // <package>/lib/index.js: one resolution serves the addon's path and the require below.
  const main = requireCjs.resolve('better-sqlite3');
  const file = join(dirname(dirname(main)), 'build', 'Release', 'better_sqlite3.node');
  const Database = requireCjs(main) as typeof BetterSqlite3;
  driver = { Database, addon: existsSync(file) ? file : undefined };
  return driver;
}

/**
 * A metadata store in one SQLite file. The file opens on first use (and
 * better-sqlite3 loads then), in WAL mode with a busy timeout, and pending
 * migrations run once. Each write is one IMMEDIATE transaction, so several
 * processes can share the file.
 *
 * @example
 * ```ts
 * import { sqliteMetadata } from '@cairn/metadata-sqlite';
 * export default defineConfig({ stack: { metadata: sqliteMetadata({ file: '.cairn/metadata.db' }) } });
 * ```
 */

export function sqliteMetadata(input?: SqliteMetadataOptions | string): MetadataStore {
  const options = normalizeOptions(input);
  let current: Connection | undefined;
  let opening: Promise<Connection> | undefined;

  /** A driver error as a CairnError naming the store and what it was doing; a CairnError as it is. */
  const wrapped = (error: unknown, doing: string): unknown =>
    CairnError.is(error)
      ? error
      : new CairnError(
          ErrorCodes.METADATA_FAILED,
          `SQLite metadata store ${options.file}: ${doing} failed: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
  const fail = (error: unknown, doing: string): never => {
    throw wrapped(error, doing);
  };

  async function open(): Promise<Connection> {
    let Database: typeof BetterSqlite3;
    let addon: string | undefined;
    try {
      ({ Database, addon } = loadDriver());
    } catch (error) {
      throw new CairnError(ErrorCodes.METADATA_FAILED, `${PLUGIN}: better-sqlite3 could not be loaded`, {
        cause: error,
        hint: 'Install it: npm install better-sqlite3',
      });
    }
    let db: Db | undefined;
    try {
      if (!options.readonly && options.file !== ':memory:')
        mkdirSync(dirname(options.file), { recursive: true });
      db = new Database(options.file, {
        ...(addon ? { nativeBinding: addon } : {}),
        readonly: options.readonly,
        fileMustExist: options.readonly,
        timeout: options.busyTimeoutMs,
      });
      db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
      db.pragma('foreign_keys = ON');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        // In WAL mode NORMAL survives a crashed process (only an OS crash can lose the last commits).
        db.pragma('synchronous = NORMAL');
        // A checkpoint runs inside the commit that crosses the threshold, on the
        // caller's thread, and fsyncs the database. An execution writes ~22 WAL
        // frames, so the default (1,000 pages) checkpointed every ~45 steps;
        // 10,000 pages (~40 MB of WAL) does it ten times less often.
        db.pragma('wal_autocheckpoint = 10000');
        // A transaction's statement journals and savepoints go to temp files otherwise
        // (~10 pages written to /var/tmp per recorded execution).
        db.pragma('temp_store = MEMORY');
      }
      if (appliedVersion(db) < latestVersion) {
        if (options.readonly) {
          throw new CairnError(
            ErrorCodes.METADATA_FAILED,
            `SQLite metadata store ${options.file} has no schema (or an old one) and is opened read-only`,
            { hint: 'Open it once without readonly to create or migrate the schema' },
          );
        }
        migrate(db);
      }
      const sql = prepare(db);
      const served = new ServedEntries();
      return { db, sql, tx: writers(db, sql, served), served, dynamic: new Map() };
    } catch (error) {
      db?.close();
      return fail(error, 'opening');
    }
  }

  async function connection(): Promise<Connection> {
    if (current) return current;
    opening ??= open().then(
      (conn) => {
        current = conn;
        return conn;
      },
      (error) => {
        opening = undefined;
        throw error;
      },
    );
    return opening;
  }

  /**
   * Run `fn` on the open connection, turning driver errors into CairnErrors.
   * `flush: false` is for a read that no queued record can change (see lookupCache).
   */
  function use<T>(doing: string, fn: (conn: Connection) => T, flush = true): Promise<T> {
    const conn = current;
    if (!conn) return connection().then(() => use(doing, fn, flush));
    // Not an async function: one promise per call (a rerun looks up every step), not two.
    try {
      if (flush) {
        endRead(conn);
        // Whatever runs after a recordExecution call sees it, awaited or not.
        flushPending(conn);
      } else beginRead(conn);
      return Promise.resolve(fn(conn));
    } catch (error) {
      return Promise.reject(wrapped(error, doing));
    }
  }

  /**
   * The reads that need not flush the write queue (cache lookups), made in the same turn of the
   * event loop, share one read transaction: a run's cached steps look up in a burst, and in WAL
   * mode a statement outside a transaction opens and closes a read snapshot of its own (locks on
   * the shared-memory index), most of what a primary-key lookup costs. The transaction ends
   * when the turn does, and before anything else runs on the connection (every other read and
   * write, close): a lookup sees what was committed when its burst began, as if it had run then.
   */
  let reading: Connection | undefined;

  function beginRead(conn: Connection): void {
    if (reading === conn || conn.db.inTransaction) return;
    conn.db.exec('BEGIN');
    reading = conn;
    setImmediate(() => endRead(conn));
  }

  /** End the read transaction of `conn` (not of a connection opened since: the store may be closed and reopened in one turn). */
  function endRead(conn: Connection): void {
    if (reading !== conn) return;
    reading = undefined;
    if (conn.db.inTransaction) conn.db.exec('COMMIT');
  }

  /**
   * The write queue of recordExecution: records queued in the same turn of
   * the event loop (a pipeline's cached steps come in bursts) commit in one
   * IMMEDIATE transaction instead of one each — one WAL commit instead of
   * dozens. Each caller's promise settles when its record is committed, so
   * the contract holds: once `recordExecution` resolves, every reader sees it.
   * If the batch fails, each record is retried alone so that one bad record
   * fails only its own caller. Once {@link FLUSH_AT_RECORDS} are queued they
   * commit at once, in the call that queued the last one.
   */
  let pending: PendingRecord[] = [];
  /** Cache keys the queued records will write (succeeded, cacheable): only their lookups must flush first. */
  let pendingKeys = new Set<string>();
  let flushScheduled = false;

  function flushPending(conn: Connection): void {
    if (pending.length === 0) return;
    endRead(conn);
    const batch = pending;
    pending = [];
    pendingKeys = new Set();
    try {
      conn.tx.recordMany.immediate(batch);
      for (const item of batch) item.resolve();
      return;
    } catch {}
    for (const item of batch) {
      try {
        conn.tx.record.immediate(item.execution, item.artifacts);
        item.resolve();
      } catch (error) {
        try {
          fail(error, 'recordExecution');
        } catch (wrapped) {
          item.reject(wrapped);
        }
      }
    }
  }

  /** Queue a record for the next flush; the promise settles when it is committed (or refused). */
  function queue(conn: Connection, execution: ExecutionRecord, artifacts: ArtifactRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      pending.push({ execution, artifacts, resolve, reject });
      if (execution.status === 'succeeded' && execution.cacheable) pendingKeys.add(execution.cacheKey);
      if (pending.length >= FLUSH_AT_RECORDS) {
        flushPending(conn);
        return;
      }
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        flushPending(conn);
      });
    });
  }

  const lineageSource = (conn: Connection) => ({
    execution: (id: string) => {
      const row = conn.sql.getExecution.get(id) as ExecutionRow | undefined;
      return row && toExecution(row);
    },
    artifact: (digest: string) => {
      const row = conn.sql.getArtifact.get(digest) as ArtifactRow | undefined;
      return row && toArtifact(row);
    },
    producers: (digest: string) => conn.sql.edgesOf.all({ digest, role: 'output' }) as string[],
    consumers: (digest: string) => conn.sql.edgesOf.all({ digest, role: 'input' }) as string[],
    runExecutions: (runId: string) => conn.sql.runExecutionIds.all(runId) as string[],
  });

  function dynamic(conn: Connection, key: string, build: () => string): Statement {
    let statement = conn.dynamic.get(key);
    if (!statement) {
      statement = conn.db.prepare(build());
      conn.dynamic.set(key, statement);
    }
    return statement;
  }

  return {
    kind: 'metadata',
    name: 'sqlite',
    ...(options.file === ':memory:'
      ? {}
      : {
          ref: {
            module: '@cairn/metadata-sqlite',
            export: 'sqliteMetadata',
            options: {
              file: options.file,
              ...(options.busyTimeoutMs !== 5000 ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
              ...(options.readonly ? { readonly: true } : {}),
            },
          },
        }),

    async init() {
      await connection();
    },

    async createRun(run) {
      return use('createRun', ({ sql }) => {
        validateRunRecord(run);
        sql.insertRun.run({
          id: run.id,
          pipeline: run.pipeline,
          env: run.env,
          status: run.status,
          started_at: run.startedAt,
          finished_at: run.finishedAt ?? null,
          git: json(run.git),
          versions: JSON.stringify(run.versions ?? {}),
          configs: JSON.stringify(run.configs ?? {}),
          config_bundle: run.configBundle ?? null,
          counts: json(run.counts),
          tags: json(run.tags),
          host: json(run.host),
          error: run.error ?? null,
          heartbeat_at: run.lease?.heartbeatAt ?? null,
          lease_expires_at: run.lease?.expiresAt ?? null,
        });
      });
    },

    async updateRun(id, patch) {
      return use('updateRun', ({ sql }) => {
        const result = sql.updateRun.run({
          id,
          status: patch.status ?? null,
          finished_at: patch.finishedAt ?? null,
          counts: json(patch.counts),
          error: patch.error ?? null,
        });
        if (result.changes === 0) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
      });
    },

    async heartbeat(id, lease) {
      validateLease(lease);
      return use('heartbeat', ({ sql }) => {
        const result = sql.heartbeat.run({
          id,
          heartbeat_at: lease.heartbeatAt,
          lease_expires_at: lease.expiresAt,
        });
        if (result.changes > 0) return true;
        if (!sql.runExists.get(id)) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
        return false;
      });
    },

    async abandonRun(id, mark) {
      validateAbandonMark(mark);
      return use('abandonRun', ({ sql }) => {
        const result = sql.abandonRun.run({
          id,
          finished_at: mark.finishedAt,
          error: mark.error,
          expired_by: mark.expiredBy ?? null,
        });
        if (result.changes > 0) return true;
        if (!sql.runExists.get(id)) throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run "${id}"`);
        return false;
      });
    },

    async getRun(id) {
      return use('getRun', ({ sql }) => {
        const row = sql.getRun.get(id) as RunRow | undefined;
        return row && toRun(row);
      });
    },

    async listRuns(query: RunQuery = {}) {
      return use('listRuns', (conn) => {
        const filters: Array<[string, unknown]> = [];
        if (query.pipeline !== undefined) filters.push(['pipeline = ?', query.pipeline]);
        if (query.status !== undefined) filters.push(['status = ?', query.status]);
        if (query.env !== undefined) filters.push(['env = ?', query.env]);
        if (query.before !== undefined) filters.push(['id < ?', query.before]);
        const where = filters.map(([clause]) => clause);
        const statement = dynamic(
          conn,
          `runs:${where.join(',')}`,
          () =>
            `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
        );
        const rows = statement.all(...filters.map(([, value]) => value), query.limit ?? 50) as RunRow[];
        return rows.map(toRun);
      });
    },

    recordExecution(execution, artifacts) {
      // Not an async function: the promise queue() makes is all a record costs (every cached step records one).
      try {
        validateExecutionRecord(execution, artifacts);
      } catch (error) {
        return Promise.reject(error);
      }
      return current
        ? queue(current, execution, artifacts)
        : connection().then((conn) => queue(conn, execution, artifacts));
    },

    async listExecutions(runId) {
      return use('listExecutions', ({ sql }) =>
        (sql.listExecutions.all(runId) as ExecutionRow[]).map(toExecution),
      );
    },

    async getExecution(id) {
      return use('getExecution', ({ sql }) => {
        const row = sql.getExecution.get(id) as ExecutionRow | undefined;
        return row && toExecution(row);
      });
    },

    lookupCache(cacheKey) {
      // A cache row changes only through a succeeded record or invalidateCache (which flushes):
      // a lookup of any other key reads the same row with or without the queue, so it does not
      // commit the queue early and a run's cached steps stay in one transaction.
      const flush = pendingKeys.has(cacheKey);
      return use(
        'lookupCache',
        ({ sql, served }) => {
          const row = sql.lookupCache.get(cacheKey) as
            | { cache_key: string; execution_id: string; run_id: string; outputs: string; created_at: string }
            | undefined;
          if (!row) return undefined;
          served.served(row.execution_id, row.cache_key);
          const entry: CacheEntry = {
            cacheKey: row.cache_key,
            executionId: row.execution_id,
            runId: row.run_id,
            outputs: JSON.parse(row.outputs) as Record<string, ArtifactRef>,
            createdAt: row.created_at,
          };
          return entry;
        },
        flush,
      );
    },

    async invalidateCache(cacheKey) {
      return use('invalidateCache', ({ sql }) => {
        sql.invalidateCache.run(cacheKey);
      });
    },

    async getArtifact(digest) {
      return use('getArtifact', ({ sql }) => {
        const row = sql.getArtifact.get(digest) as ArtifactRow | undefined;
        return row && toArtifact(row);
      });
    },

    async listArtifacts(query: ArtifactQuery = {}) {
      return use('listArtifacts', (conn) => {
        const filters: Array<[string, unknown]> = [];
        if (query.type !== undefined) filters.push(['a.type = ?', query.type]);
        if (query.runId !== undefined) {
          filters.push([
            `a.digest IN (SELECT ea.digest FROM executions e JOIN execution_artifacts ea
             ON ea.execution_id = coalesce(e.edges_from, e.id) AND ea.role = 'output' WHERE e.run_id = ?)`,
            query.runId,
          ]);
        }
        const where = filters.map(([clause]) => clause);
        const statement = dynamic(
          conn,
          `artifacts:${query.type !== undefined}:${query.runId !== undefined}`,
          () =>
            `SELECT a.* FROM artifacts a ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
             ORDER BY a.created_at DESC, a.seq DESC LIMIT ?`,
        );
        return (statement.all(...filters.map(([, value]) => value), query.limit ?? 100) as ArtifactRow[]).map(
          toArtifact,
        );
      });
    },

    async lineage(target, lineageOptions) {
      if ('digest' in target) assertDigest(target.digest);
      const conn = current ?? (await connection());
      try {
        endRead(conn);
        // Like every other read: a lineage asked after a recordExecution call sees it, awaited or not.
        flushPending(conn);
        return await walkLineage(lineageSource(conn), target, lineageOptions);
      } catch (error) {
        return fail(error, 'lineage');
      }
    },

    async registerModel(input) {
      validateRegisterModelInput(input);
      return use('registerModel', ({ tx }) => tx.register.immediate(input));
    },

    async getModelVersion(model, version) {
      return use('getModelVersion', ({ sql }) => {
        const row = sql.getModel.get(model, version) as ModelRow | undefined;
        return row && toModel(row);
      });
    },

    async listModelVersions(model) {
      return use('listModelVersions', ({ sql }) =>
        (sql.listModelVersions.all(model) as ModelRow[]).map(toModel),
      );
    },

    async listModels() {
      return use('listModels', ({ sql }) =>
        (
          sql.listModels.all() as Array<{
            model: string;
            latest: number;
            production: number | null;
            staging: number | null;
          }>
        ).map((row) => {
          const entry: { model: string; latest: number; production?: number; staging?: number } = {
            model: row.model,
            latest: row.latest,
          };
          if (row.production !== null) entry.production = row.production;
          if (row.staging !== null) entry.staging = row.staging;
          return entry;
        }),
      );
    },

    async getModelByStage(model, stage) {
      return use('getModelByStage', ({ sql }) => {
        const row = sql.byStage.get(model, stage) as ModelRow | undefined;
        return row && toModel(row);
      });
    },

    async transitionStage(input) {
      validateTransitionInput(input);
      const plan = await use('transitionStage', ({ tx }) => tx.transition.immediate(input));
      if (plan.conflict) throw plan.conflict;
      return plan.transitions.at(-1)!;
    },

    async modelHistory(model) {
      return use('modelHistory', ({ sql }) => (sql.history.all(model) as TransitionRow[]).map(toTransition));
    },

    async close() {
      const conn = current ?? (opening ? await opening.catch(() => undefined) : undefined);
      if (conn) {
        endRead(conn);
        flushPending(conn);
      }
      current = undefined;
      opening = undefined;
      conn?.db.close();
    },
  };
}

export default sqliteMetadata;
