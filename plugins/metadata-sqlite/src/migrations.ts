import type BetterSqlite3 from 'better-sqlite3';

/** One schema change. Versions only grow; an applied migration is never edited. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, executions, artifacts, lineage, cache, registry',
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        env TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        git TEXT,
        versions TEXT NOT NULL,
        configs TEXT NOT NULL,
        counts TEXT,
        tags TEXT,
        host TEXT,
        error TEXT
      ) WITHOUT ROWID;
      CREATE INDEX runs_pipeline ON runs (pipeline, id);
      CREATE INDEX runs_status ON runs (status, id);
      CREATE INDEX runs_env ON runs (env, id);

      -- seq keeps recording order (listExecutions) and is the cheap join key.
      CREATE TABLE executions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        cache_key TEXT NOT NULL,
        cacheable INTEGER NOT NULL,
        cached_from TEXT,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL,
        config_digest TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        duration_ms REAL,
        attempts INTEGER NOT NULL,
        error TEXT
      );
      CREATE INDEX executions_run ON executions (run_id, seq);

      CREATE TABLE artifacts (
        seq INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        size INTEGER NOT NULL,
        metadata TEXT,
        producer TEXT,
        created_at TEXT NOT NULL
      );
      CREATE INDEX artifacts_created ON artifacts (created_at, seq);
      CREATE INDEX artifacts_type ON artifacts (type, created_at, seq);

      -- Lineage edges: role 'input' is artifact → execution, 'output' execution → artifact.
      CREATE TABLE execution_artifacts (
        execution_id TEXT NOT NULL REFERENCES executions (id),
        role TEXT NOT NULL CHECK (role IN ('input', 'output')),
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (execution_id, role, name)
      ) WITHOUT ROWID;
      CREATE INDEX execution_artifacts_digest ON execution_artifacts (digest, role, execution_id);

      -- One entry per key; outputs are copied so a lookup is one primary-key read.
      CREATE TABLE cache_entries (
        cache_key TEXT PRIMARY KEY,
        execution_id TEXT NOT NULL REFERENCES executions (id),
        run_id TEXT NOT NULL,
        outputs TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE model_versions (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        stage TEXT NOT NULL CHECK (stage IN ('none', 'staging', 'production', 'archived')),
        metrics TEXT NOT NULL,
        run_id TEXT,
        created_at TEXT NOT NULL,
        description TEXT,
        PRIMARY KEY (model, version),
        UNIQUE (model, digest)
      ) WITHOUT ROWID;
      CREATE INDEX model_versions_stage ON model_versions (model, stage, version);

      CREATE TABLE stage_transitions (
        seq INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        from_stage TEXT NOT NULL,
        to_stage TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        accepted INTEGER NOT NULL,
        FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
      );
      CREATE INDEX stage_transitions_model ON stage_transitions (model, seq);
    `,
  },
  {
    version: 2,
    name: 'one config bundle artifact per run',
    sql: `
      ALTER TABLE runs ADD COLUMN config_bundle TEXT;
    `,
  },
  {
    version: 3,
    name: 'run leases and why each execution ran',
    sql: `
      ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
      ALTER TABLE runs ADD COLUMN lease_expires_at TEXT;
      ALTER TABLE executions ADD COLUMN reason TEXT;
    `,
  },
  {
    version: 4,
    name: 'cached executions share the lineage edges of the execution they reuse',
    sql: `
      -- Set on a cached execution recorded without edge rows of its own: its edges are the ones
      -- recorded for this execution (same names, same digests). The lineage queries join through it.
      ALTER TABLE executions ADD COLUMN edges_from TEXT;
      CREATE INDEX executions_edges_from ON executions (edges_from) WHERE edges_from IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: 'the executions that borrow one execution’s edges are a chain, not an index on edges_from',
    sql: `
      -- A no-op rerun adds one borrower to each of a thousand sources: in the index on edges_from
      -- each lands on another page (the borrowers of one source sit together), so a no-op wrote
      -- and checkpointed ~1,000 index pages once the history was a few hundred runs long. A chain
      -- writes in recording order instead: the newest borrower of each source (edges_tails, one
      -- row per source) and, for each borrower, the one before it (edges_links, keyed by seq).
      -- Executions are never deleted, so a chain is never cut.
      CREATE TABLE edges_tails (
        source TEXT PRIMARY KEY,
        tail INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE edges_links (
        seq INTEGER PRIMARY KEY,
        prev INTEGER
      );
      INSERT INTO edges_links (seq, prev)
        SELECT seq, lag(seq) OVER (PARTITION BY edges_from ORDER BY seq) FROM executions
        WHERE edges_from IS NOT NULL;
      INSERT INTO edges_tails (source, tail)
        SELECT edges_from, max(seq) FROM executions WHERE edges_from IS NOT NULL GROUP BY edges_from;
      DROP INDEX executions_edges_from;
      -- Kept by the database, so every writer keeps it, an older version of this package too.
      CREATE TRIGGER executions_edges_chain AFTER INSERT ON executions WHEN NEW.edges_from IS NOT NULL
      BEGIN
        INSERT INTO edges_links (seq, prev)
          VALUES (NEW.seq, (SELECT tail FROM edges_tails WHERE source = NEW.edges_from));
        INSERT INTO edges_tails (source, tail) VALUES (NEW.edges_from, NEW.seq)
          ON CONFLICT (source) DO UPDATE SET tail = excluded.tail;
      END;
    `,
  },
];

/**
 * Apply pending migrations. The whole check-and-apply runs in one IMMEDIATE
 * transaction: the write lock is taken before `schema_migrations` is read, so
 * when several processes open a new file at once, one migrates and the others
 * wait (busy timeout), then find nothing left to do.
 *
 * @returns the versions applied by this call
 */
export function migrate(db: BetterSqlite3.Database): number[] {
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`);
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map(
        (r) => r.version,
      ),
    );
    const done: number[] = [];
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
      done.push(migration.version);
    }
    return done;
  });
  return run.immediate();
}

/** The highest migration this build knows. */
export const latestVersion = migrations.at(-1)!.version;

/** The highest applied migration, read without taking the write lock (0 for a new file). */
export function appliedVersion(db: BetterSqlite3.Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}
