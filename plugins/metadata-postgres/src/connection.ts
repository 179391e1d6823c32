/**
 * The connection side of the store: the pool (opened on first use, with the
 * password resolved from the environment only then), schema migrations under
 * an advisory lock, and one-transaction helpers that retry deadlocks.
 */
import { CairnError, ErrorCodes } from '@cairn/core';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { isConnectionBroken, isRetryable, toCairnError } from './errors';
import { migrations } from './migrations';
import { type Endpoint, parseUrl, type ResolvedOptions, resolveUrl } from './options';

export const PLUGIN = '@cairn/metadata-postgres';
const LATEST = Math.max(...migrations.map((m) => m.version));
/** Deadlocks and serialization failures are retried this many times before giving up. */
const MAX_ATTEMPTS = 4;

export type Row = QueryResultRow;
/** A connection inside a transaction: the one thing the record-level modules query through. */
export type Db = Pick<PoolClient, 'query'>;

/** What the runs, executions, artifacts and registry modules share. */
export interface Connection {
  /** `table` qualified with the configured schema, quoted: `"cairn".runs`. */
  t(table: string): string;
  /** Open the pool and migrate, once; later calls wait for the same opening. */
  connect(): Promise<Pool>;
  /** One statement on any pooled connection; errors become `CairnError`s naming the server. */
  query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<R[]>;
  /**
   * Run `fn` in one transaction on one pooled connection; commit, or roll back
   * and rethrow. Deadlocks and serialization failures are retried whole.
   */
  transaction<T>(fn: (db: Db) => Promise<T>, begin?: string): Promise<T>;
  close(): Promise<void>;
}

export function openConnection(options: ResolvedOptions): Connection {
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
    t,
    connect,
    query,
    transaction,
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
