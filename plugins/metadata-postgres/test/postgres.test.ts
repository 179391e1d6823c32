import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError, type MetadataStore, sha256 } from '@cairn/core';
import { freePort } from '@cairn/testkit/ports';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { postgresMetadata } from '../src/index';
import { migrations } from '../src/migrations';

const url = inject('pgUrl');
const port = inject('pgPort');
const endpoint = `127.0.0.1:${port}/cairn`;
const pluginDir = fileURLToPath(new URL('..', import.meta.url));
const workerScript = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/** `${env:NAME}`, spelled so that it reads as the config text it is. */
const envRef = (name: string) => `\${env:${name}}`;

let counter = 0;
const freshSchema = () => `t_${process.pid}_${counter++}`;

const stores: MetadataStore[] = [];
function open(options: Partial<Parameters<typeof postgresMetadata>[0] & object> = {}): MetadataStore {
  const store = postgresMetadata({ url, schema: freshSchema(), ...options });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close?.();
});

const clients: pg.Client[] = [];
async function admin(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'cairn-test' });
  await client.connect();
  clients.push(client);
  return client;
}
afterAll(async () => {
  for (const client of clients) await client.end().catch(() => {});
});

interface WorkerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
afterEach(() => {
  // A test that failed or timed out must not leave workers behind.
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

function startWorker(
  mode: string,
  env: Record<string, string>,
): { child: ChildProcess; done: Promise<WorkerResult> } {
  const child = spawn(
    process.execPath,
    ['--conditions=@cairn/source', '--import', 'tsx', workerScript, mode],
    {
      cwd: pluginDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const done = new Promise<WorkerResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

async function runWorkers(
  mode: string,
  count: number,
  schema: string,
  extra: Record<string, string> = {},
): Promise<WorkerResult[]> {
  const barrier = mkdtempSync(join(tmpdir(), 'cairn-pg-barrier-'));
  try {
    const started = Array.from({ length: count }, (_, worker) =>
      startWorker(mode, {
        PG_URL: url,
        PG_SCHEMA: schema,
        WORKER: String(worker),
        WORKERS: String(count),
        BARRIER: barrier,
        ...extra,
      }),
    );
    // One failing worker would leave the others waiting at a barrier: stop them all at once.
    const stopAllOnFailure = (result: WorkerResult): WorkerResult => {
      if (result.code !== 0) for (const s of started) s.child.kill('SIGKILL');
      return result;
    };
    const results = await Promise.all(started.map((s) => s.done.then(stopAllOnFailure)));
    for (const [worker, result] of results.entries()) {
      expect(result.code, `worker ${worker} failed:\n${result.stderr}`).toBe(0);
    }
    return results;
  } finally {
    rmSync(barrier, { recursive: true, force: true });
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function caught(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    expect(CairnError.is(error), `expected a CairnError, got ${String(error)}`).toBe(true);
    return error as CairnError;
  }
  throw new Error('expected a rejection');
}

/** Every text an error carries where a password could leak: message, cause, stack, JSON. */
function everyText(error: CairnError): string {
  const cause = error.cause as Error | undefined;
  return [
    error.message,
    error.stack,
    JSON.stringify(error.toJSON()),
    cause?.message,
    cause?.stack,
    String(error.hint),
  ].join('\n');
}

/** Rows that would betray a half-recorded execution; all must be empty. */
async function halfRecords(client: pg.Client, schema: string) {
  const s = `"${schema}"`;
  const missingEdges = await client.query(
    `SELECT e.id FROM ${s}.executions e
     WHERE (SELECT count(*) FROM ${s}.execution_artifacts l WHERE l.execution_id = e.id)
        <> (SELECT count(*) FROM json_object_keys(e.inputs)) + (SELECT count(*) FROM json_object_keys(e.outputs))`,
  );
  const missingArtifacts = await client.query(
    `SELECT l.execution_id, l.digest FROM ${s}.execution_artifacts l
     WHERE l.role = 'output' AND NOT EXISTS (SELECT 1 FROM ${s}.artifacts a WHERE a.digest = l.digest)`,
  );
  const missingCache = await client.query(
    `SELECT e.id FROM ${s}.executions e
     WHERE e.status = 'succeeded' AND e.cacheable AND NOT EXISTS (SELECT 1 FROM ${s}.cache_entries c WHERE c.cache_key = e.cache_key)`,
  );
  return {
    missingEdges: missingEdges.rows,
    missingArtifacts: missingArtifacts.rows,
    missingCache: missingCache.rows,
  };
}

describe('several processes on one database', () => {
  it('8 processes run a cached pipeline and promote models at once; everything stays consistent', async () => {
    const schema = freshSchema();
    const results = (await runWorkers('pipeline', 8, schema)).map(
      (r) =>
        JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
          worker: number;
          executed: number;
          cached: number;
          promotion: string;
          sharedVersion: number;
          seen: number[];
        },
    );
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    // Cache lookups see every other process's entries.
    for (const result of results) expect(result.seen).toEqual(all);
    // Everyone registered the same bytes as the same version; exactly one promotion of it won.
    expect(results.map((r) => r.sharedVersion)).toEqual(all.map(() => 1));
    expect(results.filter((r) => r.promotion === 'accepted')).toHaveLength(1);
    expect(results.filter((r) => r.promotion === 'CAIRN_REGISTRY_CONFLICT')).toHaveLength(7);

    const store = open({ schema });
    const history = await store.modelHistory('shared');
    expect(history).toHaveLength(8);
    expect(history[0]).toMatchObject({ version: 1, from: 'none', to: 'production', accepted: true });
    expect(
      history.slice(1).every((t) => !t.accepted && t.from === 'production' && t.to === 'production'),
    ).toBe(true);
    const winner = results.find((r) => r.promotion === 'accepted')!;
    expect(history[0]!.actor).toBe(`worker-${winner.worker}`);
    expect((await store.getModelByStage('shared', 'production'))?.version).toBe(1);

    // Eight distinct versions promoted to staging at once: one holds the stage, seven were archived on the way.
    const many = await store.listModelVersions('many');
    expect(many.map((v) => v.version)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(many.filter((v) => v.stage === 'staging')).toHaveLength(1);
    expect(many.filter((v) => v.stage === 'archived')).toHaveLength(7);
    const manyHistory = await store.modelHistory('many');
    expect(manyHistory.filter((t) => t.to === 'staging' && t.accepted)).toHaveLength(8);
    expect(manyHistory.filter((t) => t.to === 'archived' && t.accepted)).toHaveLength(7);
    expect(manyHistory.filter((t) => t.to === 'staging').at(-1)!.version).toBe(
      many.find((v) => v.stage === 'staging')!.version,
    );

    // Every step ran or was reused, never both; every reuse points at a real success with the same outputs.
    expect(results.reduce((sum, r) => sum + r.executed + r.cached, 0)).toBe(8 * 6);
    for (const w of all) {
      const executions = await store.listExecutions(`r_${w}`);
      expect(executions.map((e) => e.step)).toEqual([
        'step0',
        'step1',
        'step2',
        'step3',
        'step4',
        'step5',
        'own',
      ]);
      expect((await store.getRun(`r_${w}`))?.status).toBe('succeeded');
      for (const execution of executions) {
        if (execution.status === 'cached') {
          const source = await store.getExecution(execution.cachedFrom!);
          expect(source?.status).toBe('succeeded');
          expect(source?.cacheKey).toBe(execution.cacheKey);
          expect(source?.outputs.out).toEqual(execution.outputs.out);
        }
        // Lineage: every input and output of every execution is an edge.
        const graph = await store.lineage(
          { digest: execution.outputs.out!.digest },
          { direction: 'up', depth: 1 },
        );
        expect(graph.executions.map((e) => e.id)).toContain(execution.id);
      }
      const own = await store.lineage({ runId: `r_${w}` }, { depth: 0 });
      const expectedEdges = executions.reduce(
        (sum, e) => sum + Object.keys(e.inputs).length + Object.keys(e.outputs).length,
        0,
      );
      expect(own.edges).toHaveLength(expectedEdges);
    }
    for (let i = 0; i < 6; i++) {
      const entry = await store.lookupCache(`chain-${i}`);
      const producer = await store.getExecution(entry!.executionId);
      expect(producer?.status).toBe('succeeded');
      // The artifact keeps its first producer, one of the executions that really ran.
      const artifact = await store.getArtifact(sha256(`chain-output-${i}`));
      const first = await store.getExecution(artifact!.producer!.executionId);
      expect(first?.status).toBe('succeeded');
      expect(first?.outputs.out?.digest).toBe(artifact!.digest);
    }
    expect(await halfRecords(await admin(), schema)).toEqual({
      missingEdges: [],
      missingArtifacts: [],
      missingCache: [],
    });
  });

  it('4 processes migrating fresh schemas at once all succeed, and each is migrated once', async () => {
    const schema = freshSchema();
    const rounds = 5;
    await runWorkers('migrate', 4, schema, { ROUNDS: String(rounds) });
    const client = await admin();
    for (let round = 0; round < rounds; round++) {
      const migrated = `${schema}_${round}`;
      const versions = await client.query(
        `SELECT version FROM "${migrated}".schema_migrations ORDER BY version`,
      );
      // every migration applied exactly once, whoever ran it
      expect(versions.rows).toEqual(migrations.map((m) => ({ version: m.version })));
      const tables = await client.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
        [migrated],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'artifacts',
        'cache_entries',
        'execution_artifacts',
        'executions',
        'model_versions',
        'models',
        'runs',
        'schema_migrations',
        'stage_transitions',
      ]);
    }
  });

  it('a process killed with SIGKILL in the middle of recording an execution leaves no half record', async () => {
    const schema = freshSchema();
    const store = open({ schema });
    await store.init!();
    const victim = sha256('victim-artifact');
    // Hold the victim artifact's row in an open transaction: the worker's recordExecution of e_victim
    // inserts its execution row, then waits on this row, in the middle of its transaction.
    const holder = await admin();
    const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO "${schema}".artifacts (digest, type, size, created_at) VALUES ($1, 'json', 0, '2025-01-01T00:00:00.000Z')`,
      [victim],
    );

    const { child, done } = startWorker('record', {
      PG_URL: url,
      PG_SCHEMA: schema,
      WORKER: '0',
      WORKERS: '1',
      VICTIM_DIGEST: victim,
    });
    const watcher = await admin();
    const blocked = await waitFor('the worker to block inside recordExecution(e_victim)', async () => {
      const rows = await watcher.query(
        `SELECT pid, xact_start IS NOT NULL AS in_transaction FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`,
        [holderPid],
      );
      return rows.rows[0] as { pid: number; in_transaction: boolean } | undefined;
    });
    expect(blocked.in_transaction).toBe(true);
    child.kill('SIGKILL');
    const result = await done;
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).toContain('recorded e_4');
    expect(result.stdout).not.toContain('recorded e_victim');
    await holder.query('ROLLBACK');
    // The server ends the dead client's session (and its transaction) once it notices.
    await waitFor('the killed session to end', async () => {
      const rows = await watcher.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked.pid]);
      return rows.rowCount === 0 ? true : undefined;
    });

    expect(await store.getExecution('e_victim')).toBeUndefined();
    expect(await store.lookupCache('loop-5')).toBeUndefined();
    expect(await store.getArtifact(victim)).toBeUndefined();
    expect(await store.getArtifact(sha256('loop-5-0'))).toBeUndefined();
    const lineageRows = await watcher.query(
      `SELECT 1 FROM "${schema}".execution_artifacts WHERE execution_id = 'e_victim'`,
    );
    expect(lineageRows.rowCount).toBe(0);
    // What was recorded before the kill is whole.
    const executions = await store.listExecutions('r_killed');
    expect(executions.map((e) => e.id)).toEqual(['e_0', 'e_1', 'e_2', 'e_3', 'e_4']);
    for (const execution of executions) {
      expect(Object.keys(execution.outputs)).toHaveLength(20);
      for (const ref of Object.values(execution.outputs)) {
        expect((await store.getArtifact(ref.digest))?.producer?.executionId).toBe(execution.id);
      }
      expect((await store.lookupCache(execution.cacheKey))?.executionId).toBe(execution.id);
    }
    expect(await halfRecords(watcher, schema)).toEqual({
      missingEdges: [],
      missingArtifacts: [],
      missingCache: [],
    });
  });
});

describe('errors name the server and never the password', () => {
  const withPassword = (password: string, at = port) => {
    const parsed = new URL(url);
    parsed.password = password;
    parsed.port = String(at);
    return parsed.toString();
  };

  it('a wrong password is a clear CAIRN_METADATA_FAILED naming the endpoint', async () => {
    const secret = 'Wrong-Secret-8731';
    const store = open({ url: withPassword(secret) });
    const error = await caught(store.init!());
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toContain(endpoint);
    expect(error.message).toMatch(/rejected the credentials of user "cairn"/);
    expect(everyText(error)).not.toContain(secret);
    expect(JSON.stringify(store.ref)).not.toContain(secret);
    // Every later call says the same, it does not hang or crash.
    expect((await caught(store.listRuns())).message).toContain(endpoint);
  });

  it('a server that is not running is a clear CAIRN_METADATA_FAILED naming the endpoint', async () => {
    const closedPort = await freePort();
    const store = open({ url: withPassword('whatever-pw', closedPort) });
    const error = await caught(store.getRun('r_1'));
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toBe(`PostgreSQL at 127.0.0.1:${closedPort}/cairn refused the connection`);
    expect(error.hint).toMatch(/running/);
    expect(everyText(error)).not.toContain('whatever-pw');
  });

  it('a server that accepts but never answers times out with connectTimeoutMs', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const store = open({ url: withPassword('pw-123456', silentPort), connectTimeoutMs: 300 });
      const error = await caught(store.init!());
      expect(error.code).toBe('CAIRN_METADATA_FAILED');
      expect(error.message).toBe(`PostgreSQL at 127.0.0.1:${silentPort}/cairn did not answer within 300 ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a statement that waits longer than statementTimeoutMs is cancelled with a clear error', async () => {
    const store = open({ statementTimeoutMs: 300 });
    const schema = (store.ref!.options as { schema: string }).schema;
    await store.registerModel({ model: 'm', digest: sha256('w') });
    const locker = await admin();
    await locker.query('BEGIN');
    await locker.query(`SELECT * FROM "${schema}".models WHERE model = 'm' FOR UPDATE`);
    try {
      const error = await caught(
        store.transitionStage({ model: 'm', version: 1, to: 'production', reason: 'x' }),
      );
      expect(error.code).toBe('CAIRN_METADATA_FAILED');
      expect(error.message).toContain(endpoint);
      expect(error.message).toContain('statementTimeoutMs (300 ms)');
    } finally {
      await locker.query('ROLLBACK');
    }
    // Nothing changed, and the store still works.
    expect((await store.getModelVersion('m', 1))?.stage).toBe('none');
    expect(await store.modelHistory('m')).toEqual([]);
    await store.transitionStage({ model: 'm', version: 1, to: 'production', reason: 'x' });
  });

  it('a schema made by version 2 opens, keeps its runs and executions, and gains leases and reasons', async () => {
    const schema = freshSchema();
    const client = await admin();
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(
      `CREATE TABLE "${schema}".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const migration of migrations.filter((m) => m.version <= 2)) {
      await client.query(migration.sql.replaceAll('{s}', `"${schema}"`));
      await client.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.query(
      `INSERT INTO "${schema}".runs (id, pipeline, env, status, started_at, versions, configs, host)
       VALUES ('r_old', 'training', 'team', 'running', '2026-01-01T00:00:00.000Z', '{}', '{}', '{"hostname":"a","pid":1}')`,
    );
    await client.query(
      `INSERT INTO "${schema}".executions (id, run_id, step, status, cache_key, cacheable, inputs, outputs, started_at, attempts)
       VALUES ('e_old', 'r_old', 'train', 'succeeded', 'k', true, '{}', '{}', '2026-01-01T00:00:00.000Z', 1)`,
    );

    const store = open({ schema });
    expect(await store.getRun('r_old')).toEqual({
      id: 'r_old',
      pipeline: 'training',
      env: 'team',
      status: 'running',
      startedAt: '2026-01-01T00:00:00.000Z',
      versions: {},
      configs: {},
      host: { hostname: 'a', pid: 1 },
    });
    expect((await store.getExecution('e_old'))?.reason).toBeUndefined();
    // An old run has no lease: a judge that only knows the time cannot fail it.
    const mark = {
      finishedAt: '2026-01-02T00:00:00.000Z',
      error: 'abandoned',
      expiredBy: '2026-01-02T00:00:00.000Z',
    };
    expect(await store.abandonRun('r_old', mark)).toBe(false);
    const lease = { heartbeatAt: '2026-01-01T00:00:10.000Z', expiresAt: '2026-01-01T00:01:10.000Z' };
    expect(await store.heartbeat('r_old', lease)).toBe(true);
    expect((await store.getRun('r_old'))?.lease).toEqual(lease);
    expect(await store.abandonRun('r_old', mark)).toBe(true);
    const versions = await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(versions.rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
  });

  it('a schema migrated by a newer plugin is refused', async () => {
    const store = open();
    await store.init!();
    const schema = (store.ref!.options as { schema: string }).schema;
    await (await admin()).query(
      `INSERT INTO "${schema}".schema_migrations (version, name) VALUES (999, 'from the future')`,
    );
    const later = open({ schema });
    const error = await caught(later.init!());
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toContain('migration 999, newer than');
  });
});

describe('options', () => {
  const invalid = (options: unknown) => {
    try {
      postgresMetadata(options as never);
    } catch (error) {
      expect(CairnError.is(error)).toBe(true);
      return error as CairnError;
    }
    throw new Error('expected the factory to throw');
  };

  it('are checked by the factory, naming the plugin and the option, never echoing the password', () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'url'],
      ['', 'url'],
      [{ url: 'mysql://u:topsecret-pw@h/db' }, 'url'],
      [{ url: 'not a url topsecret-pw' }, 'url'],
      [{ url: envRef('BAD NAME') }, 'url'],
      [{ url, schema: 'Bad-Schema' }, 'schema'],
      [{ url, poolSize: 0 }, 'poolSize'],
      [{ url, statementTimeoutMs: -1 }, 'statementTimeoutMs'],
      [{ url, connectTimeoutMs: 1.5 }, 'connectTimeoutMs'],
      [{ url, ssl: true }, 'ssl'],
    ];
    for (const [options, option] of cases) {
      const error = invalid(options);
      expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect(error.message).toContain('@cairn/metadata-postgres');
      expect(error.message).toContain(`"${option}"`);
      expect(everyText(error)).not.toContain('topsecret-pw');
      expect(everyText(error)).not.toContain('cairn-test-password');
    }
  });

  it('a literal password stays out of ref; an env reference is kept as written', () => {
    const literal = postgresMetadata(url);
    expect(literal.ref).toEqual({
      module: '@cairn/metadata-postgres',
      export: 'postgresMetadata',
      options: { url: `postgres://cairn@127.0.0.1:${port}/cairn` },
    });
    const query = postgresMetadata(
      `postgres://cairn@127.0.0.1:${port}/cairn?password=in-query-pw&sslmode=disable`,
    );
    expect(JSON.stringify(query.ref)).not.toContain('in-query-pw');
    expect((query.ref!.options as { url: string }).url).toContain('sslmode=disable');
    const referenced = postgresMetadata({ url: envRef('CAIRN_TEST_PG_URL'), schema: 'x' });
    expect(referenced.ref?.options).toEqual({ url: '$' + '{env:CAIRN_TEST_PG_URL}', schema: 'x' });
  });

  it('an env reference in url is resolved at first use, not by the factory', async () => {
    delete process.env.CAIRN_TEST_PG_URL;
    const store = open({ url: envRef('CAIRN_TEST_PG_URL') });
    const error = await caught(store.init!());
    expect(error.code).toBe('CAIRN_CONFIG_ENV_MISSING');
    expect(error.message).toContain('CAIRN_TEST_PG_URL');
    process.env.CAIRN_TEST_PG_URL = url;
    try {
      await store.init!();
      await store.createRun({
        id: 'r_1',
        pipeline: 'p',
        env: 'prod',
        status: 'running',
        startedAt: new Date().toISOString(),
        versions: {},
        configs: {},
      });
      expect((await store.getRun('r_1'))?.env).toBe('prod');
    } finally {
      delete process.env.CAIRN_TEST_PG_URL;
    }
  });

  it('close() ends the pool; later calls fail clearly and close() may be called again', async () => {
    const store = open();
    await store.init!();
    await store.close!();
    await store.close!();
    const error = await caught(store.listRuns());
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toMatch(/closed/);
  });
});
