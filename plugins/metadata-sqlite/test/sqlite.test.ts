import { createHook } from 'node:async_hooks';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { cp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError, type ExecutionRecord, type MetadataStore, sha256 } from '@cairn/core';
import { memoryMetadata } from '@cairn/testkit';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteMetadata } from '../src/index';
import { appliedVersion, latestVersion, migrate, migrations } from '../src/migrations';
import { EDGES_OF } from '../src/queries';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = mkdtempSync(join(tmpdir(), 'cairn-sqlite-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const tempFile = () => join(root, `db-${++files}`, 'metadata.db');

const opened: MetadataStore[] = [];
const open = (options: Parameters<typeof sqliteMetadata>[0]) => {
  const store = sqliteMetadata(options);
  opened.push(store);
  return store;
};
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close?.();
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function caught(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

async function rejection(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

/** Start test/fixtures/child.ts in its own Node process. */
function child(args: string[]) {
  return tsxProcess(['test/fixtures/child.ts', ...args], packageDir);
}

/** Run a TypeScript file (`args[0]`) with tsx in its own Node process in `cwd`, stdout and stderr kept together. */
function tsxProcess(
  args: string[],
  cwd: string,
): {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const proc = spawn(
    process.execPath,
    ['--conditions=@cairn/source', '--import', import.meta.resolve('tsx'), ...args],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  proc.stderr!.on('data', (chunk) => {
    out += chunk;
  });
  const exited = new Promise<number | null>((done) => proc.on('close', (code) => done(code)));
  return { process: proc, output: () => out, exited };
}

const ref = (label: string) => ({ digest: sha256(label), type: 'json', size: label.length });

/** The executions the lineage queries find on `role` edges of `label`'s artifact, read from the file as it is. */
function edgesOf(file: string, label: string, role: 'input' | 'output'): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare(EDGES_OF)
      .pluck()
      .all({ digest: ref(label).digest, role }) as string[];
  } finally {
    db.close();
  }
}

describe('options', () => {
  it('takes a file path or an options object and resolves the file to an absolute path', () => {
    const file = tempFile();
    expect(sqliteMetadata(file).ref).toEqual({
      module: '@cairn/metadata-sqlite',
      export: 'sqliteMetadata',
      options: { file },
    });
    expect(sqliteMetadata({ file: 'x/meta.db', busyTimeoutMs: 10 }).ref?.options).toEqual({
      file: resolve('x/meta.db'),
      busyTimeoutMs: 10,
    });
    expect(sqliteMetadata().ref?.options).toEqual({ file: resolve('.cairn/metadata.db') });
    const store = sqliteMetadata();
    expect(store.kind).toBe('metadata');
    expect(store.name).toBe('sqlite');
  });

  it('refuses invalid options when the factory is called, naming the plugin and the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ file: '' }, 'file'],
      [{ file: 42 }, 'file'],
      [{ busyTimeoutMs: -1 }, 'busyTimeoutMs'],
      [{ busyTimeoutMs: 1.5 }, 'busyTimeoutMs'],
      [{ busyTimeoutMs: '100' }, 'busyTimeoutMs'],
      [{ readonly: 'yes' }, 'readonly'],
      [{ fiel: 'typo.db' }, 'fiel'],
      [{ file: 'a\0b' }, 'file'],
      [{ file: '  ' }, 'file'],
      [{ busyTimeoutMs: Number.POSITIVE_INFINITY }, 'busyTimeoutMs'],
      [{ busyTimeoutMs: 2 ** 31 }, 'busyTimeoutMs'],
      [{ readonly: 1 }, 'readonly'],
    ];
    for (const [options, option] of cases) {
      const error = caught(() => sqliteMetadata(options as never));
      expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect(error.message).toContain('sqliteMetadata');
      expect(error.message).toContain(`"${option}"`);
    }
  });

  it('touches nothing until first use', async () => {
    const file = tempFile();
    const store = open({ file });
    expect(existsSync(dirname(file))).toBe(false);
    await store.listRuns();
    expect(existsSync(file)).toBe(true);
  });

  it('does not load zod for valid options (only to explain invalid ones)', async () => {
    const run = child(['zod', tempFile(), '0', 'zod']);
    expect(await run.exited).toBe(0);
    expect(JSON.parse(run.output().trim())).toEqual({
      valid: false,
      invalid: true,
      code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
    });
  });

  it('applies the defaults to valid options (checked without zod)', () => {
    const file = tempFile();
    expect(sqliteMetadata({ file, busyTimeoutMs: undefined }).ref?.options).toEqual({ file });
    expect(sqliteMetadata({ file, busyTimeoutMs: 5000, readonly: false }).ref?.options).toEqual({ file });
    expect(sqliteMetadata({ file, busyTimeoutMs: 0 }).ref?.options).toEqual({ file, busyTimeoutMs: 0 });
  });

  it('loads better-sqlite3 only on first use, its addon by path (no search by the bindings package)', async () => {
    const run = child(['lazy', tempFile(), '0', 'lazy']);
    expect(await run.exited).toBe(0);
    expect(JSON.parse(run.output().trim())).toEqual({ before: false, after: true, searched: false });
  });

  it('fails with a coded error and how to install better-sqlite3 when it cannot be found, writing nothing', async () => {
    // This package's source where better-sqlite3 does not resolve: a folder of its own whose
    // node_modules holds only the two Cairn packages it imports.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-sqlite-nodriver-'));
    try {
      await cp(join(packageDir, 'src'), join(dir, 'src'), { recursive: true });
      mkdirSync(join(dir, 'node_modules', '@cairn'), { recursive: true });
      for (const name of ['core', 'runtime']) {
        // The workspace's own links (npm workspaces hoist them to the root's node_modules).
        const target = realpathSync(join(packageDir, '..', '..', 'node_modules', '@cairn', name));
        await symlink(target, join(dir, 'node_modules', '@cairn', name), 'dir');
      }
      await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
      const db = join(dir, 'state', 'metadata.db');
      await writeFile(
        join(dir, 'probe.ts'),
        `import { sqliteMetadata } from './src/index.ts';
        try {
          await sqliteMetadata({ file: ${JSON.stringify(db)} }).listRuns();
          console.log(JSON.stringify({ opened: true }));
        } catch (error) {
          console.log(JSON.stringify({ code: error.code, message: error.message, hint: error.hint }));
        }\n`,
      );
      const probe = tsxProcess(['probe.ts'], dir);
      expect(await probe.exited).toBe(0);
      expect(JSON.parse(probe.output().trim())).toEqual({
        code: 'CAIRN_METADATA_FAILED',
        message: expect.stringContaining('better-sqlite3 could not be loaded'),
        hint: 'Install it: npm install better-sqlite3',
      });
      expect(existsSync(join(dir, 'state'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('database file', () => {
  it('is in WAL mode with the schema at the latest migration', async () => {
    const file = tempFile();
    await open(file).init?.();
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      const applied = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
      expect(applied).toEqual(migrations.map((m) => m.version));
    } finally {
      raw.close();
    }
  });

  it('runs migrations once however often it is opened', async () => {
    const file = tempFile();
    const first = open(file);
    await first.init?.();
    await first.createRun({
      id: 'r_1',
      pipeline: 'p',
      env: 'local',
      status: 'running',
      startedAt: new Date().toISOString(),
      versions: {},
      configs: {},
    });
    const raw = new Database(file, { readonly: true });
    const rows = () => raw.prepare('SELECT * FROM schema_migrations ORDER BY version').all();
    const before = rows();
    for (let i = 0; i < 3; i++) {
      const again = open(file);
      await again.init?.();
      await again.init?.();
      expect(await again.getRun('r_1')).toBeDefined();
    }
    expect(rows()).toEqual(before);
    raw.close();
  });

  it('a file made by schema version 2 opens, keeps its runs and executions, and gains leases and reasons', async () => {
    const file = tempFile();
    mkdirSync(dirname(file), { recursive: true });
    const raw = new Database(file);
    raw.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const migration of migrations.filter((m) => m.version <= 2)) {
      raw.exec(migration.sql);
      raw
        .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(migration.version, migration.name, '2026-01-01T00:00:00.000Z');
    }
    raw
      .prepare(
        `INSERT INTO runs (id, pipeline, env, status, started_at, versions, configs, host)
         VALUES ('r_old', 'training', 'local', 'running', '2026-01-01T00:00:00.000Z', '{}', '{}', '{"hostname":"a","pid":1}')`,
      )
      .run();
    raw
      .prepare(
        `INSERT INTO executions (id, run_id, step, status, cache_key, cacheable, inputs, outputs, started_at, attempts)
         VALUES ('e_old', 'r_old', 'train', 'succeeded', 'k', 1, '{}', '{}', '2026-01-01T00:00:00.000Z', 1)`,
      )
      .run();
    raw.close();

    const store = open(file);
    expect(await store.getRun('r_old')).toEqual({
      id: 'r_old',
      pipeline: 'training',
      env: 'local',
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
    const check = new Database(file, { readonly: true });
    try {
      expect(check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(
        migrations.map((m) => m.version),
      );
    } finally {
      check.close();
    }
  });

  it('migrates inside one IMMEDIATE transaction, reading applied versions under the write lock', () => {
    const log: string[] = [];
    const db = new Database(':memory:', { verbose: (sql) => log.push(String(sql)) });
    try {
      expect(migrate(db)).toEqual(migrations.map((m) => m.version));
      expect(log[0]).toBe('BEGIN IMMEDIATE');
      expect(log.at(-1)).toBe('COMMIT');
      expect(log.findIndex((sql) => sql.includes('SELECT version FROM schema_migrations'))).toBeGreaterThan(
        0,
      );
      expect(log.filter((sql) => sql === 'BEGIN IMMEDIATE' || sql === 'COMMIT')).toHaveLength(2);
      expect(appliedVersion(db)).toBe(latestVersion);
      expect(migrate(db)).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('is migrated safely by 4 processes started at once', async () => {
    const file = tempFile();
    mkdirSync(dirname(file), { recursive: true });
    // Hold the write lock until all four are inside init, then let them race for it together.
    const gate = new Database(file);
    gate.pragma('journal_mode = WAL');
    gate.exec('BEGIN IMMEDIATE');
    const runs = Array.from({ length: 4 }, (_, i) => child(['migrate', file, '0', `p${i}`]));
    try {
      while (!runs.every((r) => r.output().includes('opening'))) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      gate.exec('ROLLBACK');
      gate.close();
    }
    const codes = await Promise.all(runs.map((r) => r.exited));
    for (const [i, run] of runs.entries()) {
      expect({ code: codes[i], output: run.output().trim() }).toEqual({ code: 0, output: 'opening\nok' });
    }
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(
        migrations.map((m) => m.version),
      );
      expect(raw.prepare('SELECT id FROM runs ORDER BY id').pluck().all()).toEqual([
        'r_p0',
        'r_p1',
        'r_p2',
        'r_p3',
      ]);
    } finally {
      raw.close();
    }
  });

  it('opens read-only: reads work, writes fail, a missing file is refused', async () => {
    const file = tempFile();
    const writer = open(file);
    await writer.registerModel({ model: 'm', digest: sha256('w') });
    const reader = open({ file, readonly: true });
    expect((await reader.getModelVersion('m', 1))?.digest).toBe(sha256('w'));
    const error = await rejection(reader.registerModel({ model: 'm', digest: sha256('w2') }));
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(await writer.listModelVersions('m')).toHaveLength(1);
    const missing = await rejection(open({ file: tempFile(), readonly: true }).listRuns());
    expect(missing.code).toBe('CAIRN_METADATA_FAILED');
  });

  it('a write blocked by a lock held past busyTimeoutMs fails and writes nothing', async () => {
    const file = tempFile();
    const store = open({ file, busyTimeoutMs: 0 });
    await store.init?.();
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      const error = await rejection(store.registerModel({ model: 'm', digest: sha256('w') }));
      expect(error.code).toBe('CAIRN_METADATA_FAILED');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.listModelVersions('m')).toEqual([]);
  });

  it('a write blocked by another process’s lock waits for it, within busyTimeoutMs', async () => {
    const file = tempFile();
    // Far more than the lock is held, however loaded the machine: what is checked is that it waits at all.
    const store = open({ file, busyTimeoutMs: 60_000 });
    await store.init?.();
    const holder = child(['lock', file, '300', 'holder']);
    while (!holder.output().includes('locked')) await new Promise((r) => setTimeout(r, 10));
    // With no busy timeout this fails at once (the test above); here it waits until the lock is let go.
    const version = await store.registerModel({ model: 'm', digest: sha256('w') });
    expect(version.version).toBe(1);
    expect(await holder.exited).toBe(0);
    expect(holder.output()).toContain('released');
  });
});

describe('crash safety', () => {
  it('processes killed with SIGKILL in the middle of recordExecution loops leave a consistent database', async () => {
    const file = tempFile();
    await open(file).init?.();
    const writers = [child(['loop', file, '0', 'a']), child(['loop', file, '0', 'b'])];
    // The last counter line a writer printed (it also prints status words such as "opening",
    // which must not read as NaN: NaN < 200 is false and would end the wait early).
    const progress = (w: (typeof writers)[number]) =>
      Number(
        w
          .output()
          .split('\n')
          .filter((line) => /^\d+$/.test(line.trim()))
          .at(-1) ?? 0,
      );
    while (writers.some((w) => progress(w) < 200)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const w of writers) w.process.kill('SIGKILL');
    await Promise.all(writers.map((w) => w.exited));
    for (const w of writers) expect(w.process.signalCode).toBe('SIGKILL');
    for (const w of writers) expect(progress(w)).toBeGreaterThanOrEqual(200);

    const raw = new Database(file);
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(raw.pragma('foreign_key_check')).toEqual([]);
    } finally {
      raw.close();
    }

    const store = open(file);
    for (const tag of ['a', 'b']) {
      const executions = await store.listExecutions(`r_${tag}`);
      expect(executions.length).toBeGreaterThanOrEqual(200);
      // Recorded in loop order with no gaps: a kill loses at most the execution in flight.
      expect(executions.map((e) => e.id)).toEqual(executions.map((_, i) => `e_${tag}_${i}`));
      for (const execution of executions) {
        const graph = await store.lineage(
          { digest: execution.outputs.x!.digest },
          { direction: 'up', depth: 1 },
        );
        expect(graph.executions.map((e) => e.id)).toEqual([execution.id]);
        expect(graph.edges).toHaveLength(4);
        expect(graph.artifacts).toHaveLength(4);
        for (const output of Object.values(execution.outputs)) {
          expect(await store.getArtifact(output.digest)).toBeDefined();
        }
        expect((await store.lookupCache(execution.cacheKey))?.executionId).toBe(execution.id);
      }
    }
    const raw2 = new Database(file, { readonly: true });
    try {
      const count = (sql: string) => raw2.prepare(sql).pluck().get();
      const executions = count('SELECT count(*) FROM executions') as number;
      expect(count('SELECT count(*) FROM execution_artifacts')).toBe(executions * 6);
      expect(count('SELECT count(*) FROM cache_entries')).toBe(executions);
      // Every recorded digest but the shared one is unique to its execution: 6 each, plus `shared`.
      expect(count('SELECT count(*) FROM artifacts')).toBe(executions * 5 + 1);
    } finally {
      raw2.close();
    }
  });
});

describe('scale', () => {
  it('answers list, lineage and cache queries over 100,000 executions through indexes', async () => {
    const file = tempFile();
    const store = open(file);
    await store.init?.();

    // 1,000 runs of a 100-step chain each: step j consumes step j-1's output.
    const RUNS = 1000;
    const STEPS = 100;
    const raw = new Database(file);
    const insertRun = raw.prepare(
      `INSERT INTO runs (id, pipeline, env, status, started_at, versions, configs) VALUES (?, ?, 'local', ?, ?, '{}', '{}')`,
    );
    const insertExecution = raw.prepare(
      `INSERT INTO executions (id, run_id, step, status, cache_key, cacheable, inputs, outputs, started_at, attempts)
       VALUES (?, ?, ?, 'succeeded', ?, 1, ?, ?, ?, 1)`,
    );
    const insertArtifact = raw.prepare(
      'INSERT INTO artifacts (digest, type, size, producer, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    const insertEdge = raw.prepare(
      'INSERT INTO execution_artifacts (execution_id, role, name, digest) VALUES (?, ?, ?, ?)',
    );
    const insertCache = raw.prepare(
      'INSERT INTO cache_entries (cache_key, execution_id, run_id, outputs, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    const runId = (r: number) => `r_${String(r).padStart(6, '0')}`;
    const label = (r: number, s: number) => `out-${r}-${s}`;
    raw.transaction(() => {
      for (let r = 0; r < RUNS; r++) {
        const started = new Date(Date.UTC(2025, 0, 1) + r * 60_000).toISOString();
        insertRun.run(runId(r), `p${r % 10}`, r % 7 === 0 ? 'failed' : 'succeeded', started);
        for (let s = 0; s < STEPS; s++) {
          const id = `e_${r}_${s}`;
          const out = ref(label(r, s));
          const inputs = s === 0 ? {} : { in: ref(label(r, s - 1)) };
          const outputs = { out };
          insertExecution.run(
            id,
            runId(r),
            `s${s}`,
            `k-${r}-${s}`,
            JSON.stringify(inputs),
            JSON.stringify(outputs),
            started,
          );
          insertArtifact.run(
            out.digest,
            s % 2 ? 'json' : 'table',
            out.size,
            JSON.stringify({ runId: runId(r), step: `s${s}`, output: 'out', executionId: id }),
            started,
          );
          if (s > 0) insertEdge.run(id, 'input', 'in', ref(label(r, s - 1)).digest);
          insertEdge.run(id, 'output', 'out', out.digest);
          insertCache.run(`k-${r}-${s}`, id, runId(r), JSON.stringify(outputs), started);
        }
      }
    })();

    // The queries the store runs must use indexes, not scan the big tables.
    const plan = (sql: string, ...params: unknown[]) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>)
        .map((row) => row.detail)
        .join('\n');
    const scans = /SCAN (executions|execution_artifacts|artifacts|cache_entries|ea|e|a)\b(?! USING)/;
    const plans = [
      plan('SELECT * FROM cache_entries WHERE cache_key = ?', 'k'),
      plan('SELECT * FROM executions WHERE run_id = ? ORDER BY seq', 'r'),
      plan(EDGES_OF, { digest: 'd', role: 'output' }),
      plan('SELECT * FROM runs WHERE pipeline = ? ORDER BY id DESC LIMIT ?', 'p', 5),
      plan('SELECT a.* FROM artifacts a ORDER BY a.created_at DESC, a.seq DESC LIMIT ?', 5),
    ];
    for (const p of plans) expect(p).not.toMatch(scans);
    // Lists come back in index order; only the edge query sorts (the few executions of one digest).
    for (const p of plans.filter((_, i) => i !== 2)) expect(p).not.toContain('TEMP B-TREE');
    raw.close();

    // How long these take is measured in bench/ (scale.mjs), not here: a test asserts what they answer.
    const newest = await store.listRuns({ limit: 10 });
    expect(newest.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => runId(RUNS - 1 - i)));
    const page = await store.listRuns({ pipeline: 'p3', status: 'succeeded', before: runId(500), limit: 3 });
    // p3 runs below 500, newest first, without the failed multiples of 7 (483 = 7·69).
    expect(page.map((r) => r.id)).toEqual([493, 473, 463].map(runId));

    const up = await store.lineage({ digest: ref(label(500, STEPS - 1)).digest }, { direction: 'up' });
    expect(up.executions).toHaveLength(STEPS);
    expect(up.artifacts).toHaveLength(STEPS);
    expect(up.edges).toHaveLength(STEPS * 2 - 1);
    const down = await store.lineage({ digest: ref(label(500, 10)).digest }, { direction: 'down', depth: 3 });
    expect(down.executions.map((e) => e.id).sort()).toEqual(['e_500_11', 'e_500_12', 'e_500_13']);
    const byRun = await store.lineage({ runId: runId(321) });
    expect(byRun.executions).toHaveLength(STEPS);

    const hit = await store.lookupCache('k-777-42');
    expect(hit).toMatchObject({
      executionId: 'e_777_42',
      runId: runId(777),
      outputs: { out: ref(label(777, 42)) },
    });
    expect(await store.lookupCache('k-missing')).toBeUndefined();
    expect(await store.listExecutions(runId(999))).toHaveLength(STEPS);
    expect(await store.listArtifacts({ runId: runId(5) })).toHaveLength(STEPS);
    expect((await store.listArtifacts({ type: 'table', limit: 3 })).every((a) => a.type === 'table')).toBe(
      true,
    );

    // A 1,000-step cached rerun: one lookupCache and one recordExecution per step.
    await store.createRun({
      id: 'r_rerun',
      pipeline: 'p0',
      env: 'local',
      status: 'running',
      startedAt: new Date().toISOString(),
      versions: {},
      configs: {},
    });
    for (let s = 0; s < 1000; s++) {
      const r = s % RUNS;
      const entry = await store.lookupCache(`k-${r}-${s % STEPS}`);
      const execution: ExecutionRecord = {
        id: `e_rerun_${s}`,
        runId: 'r_rerun',
        step: `s${s}`,
        status: 'cached',
        cachedFrom: entry!.executionId,
        cacheKey: entry!.cacheKey,
        cacheable: true,
        inputs: {},
        outputs: entry!.outputs,
        startedAt: new Date().toISOString(),
        attempts: 0,
      };
      await store.recordExecution(execution, []);
    }
    expect(await store.listExecutions('r_rerun')).toHaveLength(1000);
  });
});

describe('cached executions and their lineage edges', () => {
  const run = (id: string) => ({
    id,
    pipeline: 'p',
    env: 'local',
    status: 'running' as const,
    startedAt: '2025-01-01T00:00:00.000Z',
    versions: {},
    configs: {},
  });
  const exec = (
    id: string,
    runId: string,
    inputs: Record<string, string>,
    outputs: Record<string, string>,
    cachedFrom?: string,
  ): ExecutionRecord => ({
    id,
    runId,
    step: 's',
    status: cachedFrom ? 'cached' : 'succeeded',
    cacheKey: `k-${id}`,
    cacheable: true,
    ...(cachedFrom ? { cachedFrom } : {}),
    inputs: Object.fromEntries(Object.entries(inputs).map(([name, label]) => [name, ref(label)])),
    outputs: Object.fromEntries(Object.entries(outputs).map(([name, label]) => [name, ref(label)])),
    startedAt: '2025-01-01T00:00:00.000Z',
    attempts: cachedFrom ? 0 : 1,
  });
  const artifact = (label: string, executionId: string) => ({
    ...ref(label),
    producer: { runId: 'r_1', step: 's', output: 'out', executionId },
    createdAt: '2025-01-01T00:00:00.000Z',
  });
  // Runs 2 and 3 reuse run 1: exactly (borrowed edges), with other inputs (own edges),
  // from a reuse (borrowed from the first producer), and with one input twice.
  const history: Array<[ExecutionRecord, string[]]> = [
    [exec('e_a', 'r_1', {}, { out: 'x' }), ['x']],
    [exec('e_b', 'r_1', { in: 'x', again: 'x' }, { out: 'y' }), ['y']],
    [exec('e_c', 'r_1', { in: 'y' }, { out: 'z', log: 'w' }), ['z', 'w']],
    [exec('e_a2', 'r_2', {}, { out: 'x' }, 'e_a'), []],
    [exec('e_b2', 'r_2', { in: 'x', again: 'x' }, { out: 'y' }, 'e_b'), []],
    [exec('e_c2', 'r_2', { in: 'v' }, { out: 'z', log: 'w' }, 'e_c'), []],
    [exec('e_b3', 'r_3', { in: 'x', again: 'x' }, { out: 'y' }, 'e_b2'), []],
    [exec('e_c3', 'r_3', { in: 'y' }, { out: 'z' }, 'e_c'), []],
  ];
  const labels = ['v', 'w', 'x', 'y', 'z', 'missing'];

  /** Every lineage and listArtifacts({ runId }) answer of `store` is the reference's. */
  async function expectSameLineage(store: MetadataStore, reference: MetadataStore) {
    const sortGraph = (graph: Awaited<ReturnType<MetadataStore['lineage']>>) => ({
      executions: graph.executions.map((e) => e.id).sort(),
      artifacts: graph.artifacts.map((a) => a.digest).sort(),
      edges: graph.edges.map((e) => `${e.from}>${e.to}:${e.name}:${e.kind}`).sort(),
    });
    for (const label of labels) {
      for (const direction of ['up', 'down', 'both'] as const) {
        for (const depth of [1, undefined]) {
          const target = { digest: ref(label).digest };
          const options = depth === undefined ? { direction } : { direction, depth };
          expect(sortGraph(await store.lineage(target, options)), `${label} ${direction} ${depth}`).toEqual(
            sortGraph(await reference.lineage(target, options)),
          );
        }
      }
    }
    for (const runId of ['r_1', 'r_2', 'r_3']) {
      expect(sortGraph(await store.lineage({ runId }))).toEqual(
        sortGraph(await reference.lineage({ runId })),
      );
      const digests = async (s: MetadataStore) =>
        (await s.listArtifacts({ runId })).map((a) => a.digest).sort();
      expect(await digests(store), runId).toEqual(await digests(reference));
    }
  }

  async function fill(store: MetadataStore) {
    for (const id of ['r_1', 'r_2', 'r_3']) await store.createRun(run(id));
    for (const [execution, outputs] of history) {
      await store.recordExecution(
        execution,
        outputs.map((label) => artifact(label, execution.id)),
      );
    }
  }

  it('a lineage asked right after a recordExecution call sees it, awaited or not', async () => {
    const store = open({ file: tempFile() });
    await store.createRun(run('r_1'));
    await store.recordExecution(exec('e_a', 'r_1', {}, { out: 'x' }), [artifact('x', 'e_a')]);
    // Not awaited: the record waits in the store's write queue when lineage is asked.
    const late = store.recordExecution(exec('e_b', 'r_1', { in: 'x' }, { out: 'y' }), [artifact('y', 'e_b')]);
    const down = await store.lineage({ digest: ref('x').digest }, { direction: 'down' });
    expect(down.executions.map((e) => e.id)).toContain('e_b');
    await late;
  });

  it('a reuse with the same inputs and outputs borrows the edges, and every lineage answer is the same', async () => {
    const file = tempFile();
    const store = open(file);
    const reference = memoryMetadata();
    await fill(store);
    await fill(reference);

    const raw = new Database(file, { readonly: true });
    try {
      const edgeOwners = raw
        .prepare('SELECT DISTINCT execution_id FROM execution_artifacts ORDER BY execution_id')
        .pluck()
        .all();
      expect(edgeOwners).toEqual(['e_a', 'e_b', 'e_c', 'e_c2', 'e_c3']);
      const borrowed = raw
        .prepare('SELECT id, edges_from FROM executions WHERE edges_from IS NOT NULL ORDER BY seq')
        .raw()
        .all();
      expect(borrowed).toEqual([
        ['e_a2', 'e_a'],
        ['e_b2', 'e_b'],
        ['e_b3', 'e_b'],
      ]);
    } finally {
      raw.close();
    }

    await expectSameLineage(store, reference);
    // The producers and consumers in recording order, an execution with two edges to a digest twice.
    expect(edgesOf(file, 'y', 'output')).toEqual(['e_b', 'e_b2', 'e_b3']);
    expect(edgesOf(file, 'x', 'input')).toEqual(['e_b', 'e_b', 'e_b2', 'e_b2', 'e_b3', 'e_b3']);
    expect(edgesOf(file, 'v', 'input')).toEqual(['e_c2']);
  });

  it('a reuse under the key a lookup answered borrows the edges by the key alone, without reading its source', async () => {
    const file = tempFile();
    const store = open(file);
    for (const id of ['r_1', 'r_2']) await store.createRun(run(id));
    const source = exec('e_b', 'r_1', { in: 'x' }, { out: 'y' });
    await store.recordExecution(source, [artifact('y', 'e_b')]);
    expect((await store.lookupCache(source.cacheKey))?.executionId).toBe('e_b');
    // Another writer's view of the source's row no longer matches its reusers: read, it would not be borrowed.
    const raw = new Database(file);
    try {
      raw.prepare(`UPDATE executions SET inputs = '{}' WHERE id = 'e_b'`).run();
    } finally {
      raw.close();
    }
    // Under the key the lookup answered: equal keys mean equal input digests, so the edges are e_b's.
    await store.recordExecution(
      { ...exec('e_b2', 'r_2', { in: 'x' }, { out: 'y' }, 'e_b'), cacheKey: source.cacheKey },
      [],
    );
    // Under another key the source's row is read, and compared.
    await store.recordExecution(exec('e_b3', 'r_2', { in: 'x' }, { out: 'y' }, 'e_b'), []);
    const check = new Database(file, { readonly: true });
    try {
      const owners = check
        .prepare(`SELECT id, edges_from FROM executions WHERE id LIKE 'e_b%' ORDER BY seq`)
        .raw()
        .all();
      expect(owners).toEqual([
        ['e_b', null],
        ['e_b2', 'e_b'],
        ['e_b3', null],
      ]);
    } finally {
      check.close();
    }
    expect(edgesOf(file, 'x', 'input')).toEqual(['e_b', 'e_b2', 'e_b3']);
    expect(edgesOf(file, 'y', 'output')).toEqual(['e_b', 'e_b2', 'e_b3']);
  });

  it('a batch of borrowers that fails and is retried record by record leaves every chain whole', async () => {
    const file = tempFile();
    const store = open(file);
    const reference = memoryMetadata();
    await fill(store);
    await fill(reference);
    const b4 = exec('e_b4', 'r_3', { in: 'x', again: 'x' }, { out: 'y' }, 'e_b');
    const a4 = exec('e_a4', 'r_3', {}, { out: 'x' }, 'e_a');
    // One queue, one transaction: the record whose id is taken rolls back the others' links too.
    const results = await Promise.allSettled([
      store.recordExecution(b4, []),
      store.recordExecution(exec('e_b2', 'r_3', { in: 'x', again: 'x' }, { out: 'y' }, 'e_b'), []),
      store.recordExecution(a4, []),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await reference.recordExecution(b4, []);
    await reference.recordExecution(a4, []);
    await expectSameLineage(store, reference);
    expect(edgesOf(file, 'y', 'output')).toEqual(['e_b', 'e_b2', 'e_b3', 'e_b4']);
    expect(edgesOf(file, 'x', 'output')).toEqual(['e_a', 'e_a2', 'e_a4']);
  });

  it('a file of schema version 4 migrates its borrowed edges to chains, and every lineage answer stays the same', async () => {
    // The same history as a version-4 store wrote it: rows copied into a file migrated to 4 only.
    const latest = tempFile();
    await fill(open(latest));
    for (const store of opened.splice(0)) await store.close?.();
    const file = tempFile();
    mkdirSync(dirname(file), { recursive: true });
    const raw = new Database(file);
    raw.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const migration of migrations.filter((m) => m.version <= 4)) {
      raw.exec(migration.sql);
      raw
        .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(migration.version, migration.name, '2026-01-01T00:00:00.000Z');
    }
    raw.prepare('ATTACH ? AS src').run(latest);
    for (const table of ['runs', 'executions', 'artifacts', 'execution_artifacts', 'cache_entries'])
      raw.exec(`INSERT INTO main.${table} SELECT * FROM src.${table}`);
    raw.exec('DETACH src');
    raw.close();

    const reference = memoryMetadata();
    await fill(reference);
    const store = open(file);
    await expectSameLineage(store, reference);
    const indexes = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions'")
          .pluck()
          .all();
      } finally {
        db.close();
      }
    };
    // No index keyed by the source: that is what made a no-op write a page per step.
    expect(indexes()).not.toContain('executions_edges_from');

    // Borrowers recorded after the migration join the chains: by this store, and by a writer
    // that only sets edges_from (a version-4 store on the same file).
    const b4 = exec('e_b4', 'r_3', { in: 'x', again: 'x' }, { out: 'y' }, 'e_b3');
    await store.recordExecution(b4, []);
    await reference.recordExecution(b4, []);
    const a5 = exec('e_a5', 'r_3', {}, { out: 'x' }, 'e_a2');
    const older = new Database(file);
    older
      .prepare(
        `INSERT INTO executions (id, run_id, step, status, cache_key, cacheable, cached_from, inputs, outputs, started_at, attempts, edges_from)
         VALUES (?, ?, ?, 'cached', ?, 1, ?, ?, ?, ?, 0, 'e_a')`,
      )
      .run(
        a5.id,
        a5.runId,
        a5.step,
        a5.cacheKey,
        a5.cachedFrom,
        JSON.stringify(a5.inputs),
        JSON.stringify(a5.outputs),
        a5.startedAt,
      );
    older.close();
    await reference.recordExecution(a5, []);
    await expectSameLineage(store, reference);
    expect(edgesOf(file, 'y', 'output')).toEqual(['e_b', 'e_b2', 'e_b3', 'e_b4']);
    expect(edgesOf(file, 'x', 'output')).toEqual(['e_a', 'e_a2', 'e_a5']);
  });
});

describe('the write queue of recordExecution', () => {
  const run = (id: string) => ({
    id,
    pipeline: 'p',
    env: 'local',
    status: 'running' as const,
    startedAt: new Date().toISOString(),
    versions: {},
    configs: {},
  });
  const execution = (id: string, runId: string): ExecutionRecord => ({
    id,
    runId,
    step: id,
    status: 'cached',
    cacheKey: `k-${id}`,
    cacheable: true,
    inputs: {},
    outputs: {},
    startedAt: new Date().toISOString(),
    attempts: 0,
  });

  it('commits records made in the same turn together, visible to readers and to other connections', async () => {
    const file = tempFile();
    const store = open({ file });
    await store.createRun(run('r_batch'));
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.recordExecution(execution(`e_${i}`, 'r_batch'), [])),
    );
    const other = new Database(file, { readonly: true });
    try {
      expect(
        (other.prepare('SELECT count(*) AS n FROM executions WHERE run_id = ?').get('r_batch') as any).n,
      ).toBe(50);
    } finally {
      other.close();
    }
    // Not awaited: a read issued after the call still sees the record.
    const late = store.recordExecution(execution('e_late', 'r_batch'), []);
    expect((await store.listExecutions('r_batch')).map((e) => e.id)).toContain('e_late');
    await late;
  });

  it('a cache lookup and a record each cost the caller one promise (a rerun makes both for every step)', async () => {
    const file = tempFile();
    const store = open({ file });
    await store.createRun(run('r_p'));
    await store.recordExecution({ ...execution('e_source', 'r_p'), status: 'succeeded' }, []);
    await store.lookupCache('k-e_source');
    let promises = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'PROMISE') promises++;
      },
    });
    const calls = 100;
    const made: Promise<unknown>[] = [];
    hook.enable();
    try {
      for (let i = 0; i < calls; i++) {
        made.push(store.lookupCache('k-e_source'), store.recordExecution(execution(`e_p${i}`, 'r_p'), []));
      }
    } finally {
      hook.disable();
    }
    await Promise.all(made);
    // As async functions they made two each: their own, and the one they returned.
    expect(promises).toBeLessThanOrEqual(2 * calls);
    expect((await store.listExecutions('r_p')).length).toBe(calls + 1);
  });

  it('commits a full batch in the call that fills it, not at the end of the turn', async () => {
    const file = tempFile();
    const store = open({ file });
    await store.createRun(run('r_full'));
    await store.recordExecution(execution('e_first', 'r_full'), []);
    const other = new Database(file, { readonly: true });
    const count = () =>
      (other.prepare('SELECT count(*) AS n FROM executions WHERE run_id = ?').get('r_full') as { n: number })
        .n;
    try {
      // 300 records queued in one turn, none awaited: the first 256 are committed as the 256th is
      // queued (a caller that never yields does not hold them all), the other 44 at the turn's end.
      const queued = Array.from({ length: 300 }, (_, i) =>
        store.recordExecution(execution(`e_${i}`, 'r_full'), []),
      );
      expect(count()).toBe(1 + 256);
      await Promise.all(queued);
      expect(count()).toBe(1 + 300);
    } finally {
      other.close();
    }
  });

  it('lookups of one turn share a snapshot that any other read or write of the store ends first', async () => {
    const file = tempFile();
    const store = open({ file });
    const other = open({ file });
    await store.createRun(run('r_1'));
    await other.init?.();
    // Not awaited: the lookups start a read transaction that lasts until the end of the turn.
    const lookups = [store.lookupCache('k-1'), store.lookupCache('k-2')];
    // Another connection commits while it is open (WAL: a reader does not block a writer)…
    await other.createRun(run('r_2'));
    // …and the next read of this store, in the same turn, ends it and sees that commit.
    expect(await store.getRun('r_2')).toBeDefined();
    // A write in the same turn as lookups is committed at once, visible to the other connection.
    const again = store.lookupCache('k-3');
    await store.createRun(run('r_3'));
    expect(await other.getRun('r_3')).toBeDefined();
    await store.recordExecution(execution('e_1', 'r_1'), []);
    expect((await other.getExecution('e_1'))?.runId).toBe('r_1');
    expect(await Promise.all([...lookups, again])).toEqual([undefined, undefined, undefined]);
  });

  it('a store closed and reopened in the turn of a lookup still commits its writes at once', async () => {
    const file = tempFile();
    const store = open({ file });
    const other = open({ file });
    await store.createRun(run('r_1'));
    await other.init?.();
    const before = store.lookupCache('k-1');
    await store.close?.();
    // Reopened by the next call: its lookups start a read transaction of the new connection,
    // which the end of the first one's turn must not leave open.
    const after = store.lookupCache('k-2');
    await new Promise((resolve) => setImmediate(resolve));
    await store.lookupCache('k-3');
    await store.createRun(run('r_2'));
    expect(await other.getRun('r_2')).toBeDefined();
    expect(await Promise.all([before, after])).toEqual([undefined, undefined]);
  });

  it('fails only the record that cannot be stored when a batch holds a bad one', async () => {
    const store = open({ file: tempFile() });
    await store.createRun({
      id: 'r_ok',
      pipeline: 'p',
      env: 'local',
      status: 'running',
      startedAt: new Date().toISOString(),
      versions: {},
      configs: {},
    });
    await store.recordExecution(execution('e_taken', 'r_ok'), []);
    const results = await Promise.allSettled([
      store.recordExecution(execution('e_good_1', 'r_ok'), []),
      // An execution id that is already stored: the primary key refuses it.
      store.recordExecution({ ...execution('e_taken', 'r_ok'), step: 'other' }, []),
      store.recordExecution(execution('e_good_2', 'r_ok'), []),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe('CAIRN_METADATA_FAILED');
    expect((await store.listExecutions('r_ok')).map((e) => e.id).sort()).toEqual([
      'e_good_1',
      'e_good_2',
      'e_taken',
    ]);
  });
});
