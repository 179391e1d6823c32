import { CairnError, ErrorCodes } from '@cairn/core';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * Marks the file as ours in the SQLite header ("CAbt"), so a file written by
 * another program is refused instead of being given our tables.
 */
export const APPLICATION_ID = 0x43416274;

/** Schema versions, in `PRAGMA user_version`. Versions only grow; an applied one is never edited. */
export const migrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE experiments (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'concluded')),
        created_at TEXT NOT NULL,
        concluded_at TEXT,
        winner TEXT,
        reason TEXT
      );
      -- First exposure wins: the primary key makes a second one an ignored insert.
      CREATE TABLE exposures (
        experiment TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (experiment, unit_id)
      ) WITHOUT ROWID;
      CREATE TABLE outcomes (
        seq INTEGER PRIMARY KEY,
        experiment TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        at TEXT NOT NULL,
        event_id TEXT,
        UNIQUE (experiment, event_id)
      );
      -- Covers the per-unit aggregation of one metric without touching the table.
      CREATE INDEX outcomes_metric ON outcomes (experiment, metric, unit_id, value);
    `,
  },
  {
    version: 2,
    sql: `
      -- The always-valid p-value is a running minimum over analyses: kept per
      -- comparison so that a later look cannot undo an earlier conclusion.
      CREATE TABLE sequential_p_values (
        experiment TEXT NOT NULL,
        metric TEXT NOT NULL,
        variant TEXT NOT NULL,
        p_value REAL NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (experiment, metric, variant)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    sql: `
      -- The always-valid p-value of each counted look, with the units it saw:
      -- the sequential test over time. Appended only when p or n moved, so
      -- looking again at unchanged data adds nothing.
      CREATE TABLE sequential_p_history (
        seq INTEGER PRIMARY KEY,
        experiment TEXT NOT NULL,
        metric TEXT NOT NULL,
        variant TEXT NOT NULL,
        at TEXT NOT NULL,
        p_value REAL NOT NULL,
        units INTEGER NOT NULL
      );
      CREATE INDEX sequential_p_history_comparison ON sequential_p_history (experiment, metric, variant, seq);
    `,
  },
];

export const latestVersion = migrations.at(-1)!.version;

function refuse(file: string, message: string, hint: string): CairnError {
  return new CairnError(ErrorCodes.METADATA_FAILED, `A/B test database ${file} ${message}`, { hint });
}

/** The file's schema version; throws when the file belongs to someone else or to a newer Cairn. */
function checkedVersion(db: BetterSqlite3.Database, file: string): number {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const hint = 'Point the `file` option of localAbtest at another path, or move this file away';
  if (applicationId !== APPLICATION_ID) {
    if (applicationId !== 0) {
      throw refuse(file, `belongs to another program (application_id ${applicationId})`, hint);
    }
    const tables = (
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .all() as Array<{
        name: string;
      }>
    ).map((r) => r.name);
    if (tables.length > 0) {
      throw refuse(file, `is not a Cairn A/B test database (it has tables ${tables.join(', ')})`, hint);
    }
  }
  if (version > latestVersion) {
    throw refuse(
      file,
      `has schema version ${version}, newer than this @cairn/abtest-local knows (${latestVersion})`,
      'Upgrade @cairn/abtest-local',
    );
  }
  return version;
}

/**
 * Create or upgrade the schema. The check is repeated inside an IMMEDIATE
 * transaction, so when several processes open a new file at once one
 * migrates and the others wait (busy timeout) and find nothing to do.
 */
export function migrate(db: BetterSqlite3.Database, file: string): void {
  if (checkedVersion(db, file) === latestVersion) return;
  db.transaction(() => {
    const version = checkedVersion(db, file);
    for (const migration of migrations) {
      if (migration.version > version) db.exec(migration.sql);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${latestVersion}`);
  }).immediate();
}
