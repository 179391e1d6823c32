import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Deployer, DeployerContext, ModelVersionRef } from '@cairn/core';
import { localStore } from '@cairn/runtime';
import { freePort } from '@cairn/testkit/ports';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDeployerOptions, listPredictionBatches, localDeployer, servedRows } from '../src/index';
import { lockFile } from '../src/state';
import { answerOf, FLAVOR, offsetLoaders, storeVersions } from './models';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let root: string;
let storeDir: string;
let v: ModelVersionRef[];
let dirs = 0;
const open: Deployer[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-deploy-local-multi-'));
  storeDir = join(root, 'store');
  v = await storeVersions(localStore(storeDir), 20);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const deployer of open.splice(0)) await deployer.close();
});
afterAll(() => rm(root, { recursive: true, force: true }));

const newStateDir = () => join(root, `state-${++dirs}`);

async function start(
  stateDir: string,
  options: LocalDeployerOptions = {},
  context: Partial<DeployerContext> = {},
): Promise<Deployer> {
  const deployer = await localDeployer({ port: 0, ...options }).create({
    storage: localStore(storeDir),
    loaders: offsetLoaders().loaders,
    stateDir,
    ...context,
  });
  open.push(deployer);
  return deployer;
}

interface Child {
  lines: () => Array<Record<string, unknown>>;
  output: () => string;
  exited: Promise<number | null>;
}

/** A deployer in another process (test/fixtures/child.ts), running `ops` once the `go` file exists. */
function child(args: { stateDir: string; mode: 'serve' | 'control'; go?: string; ops: unknown[] }): Child {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=@cairn/source',
      '--import',
      'tsx',
      'test/fixtures/child.ts',
      JSON.stringify({ ...args, storeDir }),
    ],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  proc.stderr!.on('data', (chunk) => {
    err += chunk;
  });
  const exited = new Promise<number | null>((done) => proc.on('close', (code) => done(code)));
  return {
    lines: () =>
      out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    output: () => `${out}${err}`,
    exited,
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 15_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last error: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const deployOp = (endpoint: string, model: ModelVersionRef) => ({ op: 'deploy', endpoint, model });

async function servedVersion(url: string, unitId = 'u1'): Promise<number | undefined> {
  const response = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rows: [[1, 2]], unitId }),
  });
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { version: number; predictions: number[] };
  expect(body.predictions).toEqual([answerOf(body.version)]);
  return body.version;
}

describe('deploy-local across processes', () => {
  it('gives two processes deploying to one endpoint at once consecutive revisions, none lost', async () => {
    const stateDir = newStateDir();
    const go = join(root, `go-${dirs}`);
    const n = 10;
    const a = child({ stateDir, mode: 'control', go, ops: v.slice(0, n).map((m) => deployOp('shared', m)) });
    const b = child({
      stateDir,
      mode: 'control',
      go,
      ops: v.slice(n, 2 * n).map((m) => deployOp('shared', m)),
    });
    await until('both children ready', async () =>
      a.lines().some((l) => l.ready) && b.lines().some((l) => l.ready) ? true : undefined,
    );
    await writeFile(go, '');
    const codes = await Promise.all([a.exited, b.exited]);
    expect(codes, `${a.output()}\n${b.output()}`).toEqual([0, 0]);

    const revisionsOf = (c: Child) =>
      c.lines().flatMap((l) => (typeof l.revision === 'number' ? [l.revision] : []));
    expect([...revisionsOf(a), ...revisionsOf(b)].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 2 * n }, (_, i) => i + 1),
    );
    // Each child's own revisions increase: its deploys landed in its order.
    for (const c of [a, b]) expect(revisionsOf(c)).toEqual([...revisionsOf(c)].sort((x, y) => x - y));

    const reader = await start(stateDir, { serve: false }, { mode: 'control' });
    const history = await reader.history('shared');
    expect(history.map((d) => d.revision)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
    // Every version deployed exactly once: no revision was overwritten by the other process.
    expect(history.map((d) => d.routes[0]!.model.version).sort((x, y) => x - y)).toEqual(
      v.map((m) => m.version),
    );
    await expect(stat(lockFile(stateDir, 'shared'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('has a serving deployer follow a deploy, a rollback, a new endpoint and a removal made by another process', async () => {
    const stateDir = newStateDir();
    const server = await start(stateDir);
    const first = await server.deploy({ endpoint: 'penguins', model: v[0]! });
    const url = first.url!;
    const base = url.slice(0, url.indexOf('/v1/'));
    expect(await servedVersion(url)).toBe(1);

    const deploy = child({ stateDir, mode: 'control', ops: [deployOp('penguins', v[1]!)] });
    expect(await deploy.exited, deploy.output()).toBe(0);
    await until('the server to serve version 2', async () =>
      (await servedVersion(url)) === 2 ? 2 : undefined,
    );
    expect((await server.status('penguins'))!.revision).toBe(2);
    expect((await (await fetch(url)).json()) as { revision: number }).toMatchObject({ revision: 2 });

    const back = child({
      stateDir,
      mode: 'control',
      ops: [{ op: 'rollback', endpoint: 'penguins' }, deployOp('fresh', v[2]!)],
    });
    expect(await back.exited, back.output()).toBe(0);
    await until('the server to serve version 1 again', async () =>
      (await servedVersion(url)) === 1 ? 1 : undefined,
    );
    expect(await server.history('penguins')).toHaveLength(3);
    expect((await server.status('penguins'))!.change).toBe('rollback');
    await until('the new endpoint', async () =>
      (await servedVersion(`${base}/v1/endpoints/fresh`)) === 3 ? 3 : undefined,
    );
    const health = await server.health('penguins');
    expect(health).toMatchObject({ status: 'healthy', revision: 3 });

    const remove = child({ stateDir, mode: 'control', ops: [{ op: 'remove', endpoint: 'fresh' }] });
    expect(await remove.exited, remove.output()).toBe(0);
    await until('the removal', async () =>
      (
        await fetch(`${base}/v1/endpoints/fresh/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"rows":[[1,2]]}',
        })
      ).status === 404
        ? true
        : undefined,
    );
    const listed = (await (await fetch(`${base}/v1/endpoints`)).json()) as {
      endpoints: Array<{ endpoint: string }>;
    };
    expect(listed.endpoints.map((d) => d.endpoint)).toEqual(['penguins']);
  });

  it('reports a followed revision that cannot load as not ready and keeps serving the one before', async () => {
    const stateDir = newStateDir();
    const server = await start(stateDir, { serve: false, followIntervalMs: 20 });
    await server.deploy({ endpoint: 'guarded', model: v[0]! });
    // The control process can load a flavor the server has no loader for: what it writes cannot go live there.
    const { loaders } = offsetLoaders();
    const control = await start(
      stateDir,
      {},
      { mode: 'control', loaders: { ...loaders, 'test/other': loaders[FLAVOR]! } },
    );
    const other = await storeOtherFlavor();
    await control.deploy({ endpoint: 'guarded', model: other });
    const health = await until('the server to notice revision 2', async () => {
      const h = await server.health('guarded');
      return h.revision === 2 && h.routes[0]!.error?.includes('no loader') ? h : undefined;
    });
    expect(health).toMatchObject({ status: 'degraded', revision: 2 });
    expect(health.routes[0]).toMatchObject({ ready: false, model: { version: other.version } });
    expect(health.routes[0]!.error).toContain('test/other');
    for (let i = 0; i < 5; i++) {
      expect((await server.predict('guarded', [[1, 2]])).served.version).toBe(1);
    }
    // Rolling back from the control side brings the server back to healthy.
    await control.rollback('guarded');
    await until('healthy again', async () => {
      const h = await server.health('guarded');
      return h.revision === 3 && h.status === 'healthy' ? h : undefined;
    });
  });

  it('serves its own latest write at once while another writer and follow passes run', async () => {
    const stateDir = newStateDir();
    // A long history makes reads of the file slow, so follow passes overlap the writes below.
    const history = Array.from({ length: 5000 }, (_, i) => ({
      endpoint: 'steady',
      revision: i + 1,
      routes: [{ model: v[i % 2]!, role: 'primary', weight: 100 }],
      updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      change: 'deploy',
    }));
    await mkdir(join(stateDir, 'deployments'), { recursive: true });
    await writeFile(
      join(stateDir, 'deployments', 'steady.json'),
      JSON.stringify({ format: 1, endpoint: 'steady', revisions: history }),
    );
    const server = await start(stateDir, { serve: false, followIntervalMs: 10 });
    // Another writer on the folder (its own view of the file, like another process).
    const other = await start(stateDir, { serve: false }, { mode: 'control' });
    for (let i = 0; i < 8; i++) {
      await other.deploy({ endpoint: 'steady', model: v[2]! });
      // The server's pass is now reading the other writer's revision while the server writes its own.
      const mine = await server.deploy({ endpoint: 'steady', model: v[3]! });
      const deadline = Date.now() + 100;
      while (Date.now() < deadline) {
        const result = await server.predict('steady', [[1, 2]]);
        expect(result.revision).toBe(mine.revision);
        expect(result.served.version).toBe(4);
        await new Promise((done) => setTimeout(done, 5));
      }
    }
  });

  it('keeps serving the last good revision when a followed state file is damaged', async () => {
    const stateDir = newStateDir();
    const server = await start(stateDir, { serve: false, followIntervalMs: 20 });
    await server.deploy({ endpoint: 'fragile', model: v[0]! });
    const file = join(stateDir, 'deployments', 'fragile.json');
    const temp = `${file}.tmp-test`;
    await writeFile(temp, '{ "format": 1, "endpoint": "fragile", "revisions": [');
    await rename(temp, file);
    await until(
      'the damage to show',
      async () =>
        (await server.status('fragile').then(
          () => undefined,
          (error) => error,
        )) as Error | undefined,
    ).then((error) => {
      expect(error).toMatchObject({ code: 'CAIRN_DEPLOY_FAILED', message: expect.stringContaining(file) });
    });
    // Several follow passes later it still answers with the revision it had.
    await new Promise((done) => setTimeout(done, 100));
    expect((await server.predict('fragile', [[1, 2]])).served.version).toBe(1);
  });

  it('breaks a lock left by a dead process, and waits for a live one', async () => {
    const stateDir = newStateDir();
    const deployer = await start(stateDir, { serve: false }, { mode: 'control' });
    await deployer.deploy({ endpoint: 'locked', model: v[0]! });
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid!;
    await new Promise((done) => dead.on('close', done));
    const lock = lockFile(stateDir, 'locked');
    const owner = (pid: number) =>
      JSON.stringify({ pid, host: hostname(), token: 'someone-else', time: new Date().toISOString() });
    await writeFile(lock, owner(deadPid));
    const broken = await deployer.deploy({ endpoint: 'locked', model: v[1]! });
    expect(broken.revision).toBe(2);
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });

    // A lock whose holder lives (this process) is waited for until it goes.
    await writeFile(lock, owner(process.pid));
    const waiting = deployer.deploy({ endpoint: 'locked', model: v[2]! });
    let settled = false;
    void waiting.finally(() => {
      settled = true;
    });
    await new Promise((done) => setTimeout(done, 300));
    expect(settled).toBe(false);
    expect((await deployer.status('locked'))!.revision).toBe(2);
    await rm(lock);
    // It waited: still unsettled above, and done only once the lock was gone.
    expect((await waiting).revision).toBe(3);

    // The same live pid, untouched for more than a minute, is stale (pid reuse, a hung holder).
    await writeFile(lock, owner(process.pid));
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    expect((await deployer.rollback('locked')).revision).toBe(4);
  });

  it('opens no port in control mode, and reports the URL a serving process would answer on', async () => {
    const port = await freePort();
    const stateDir = newStateDir();
    const control = await start(stateDir, { port }, { mode: 'control' });
    const deployment = await control.deploy({ endpoint: 'quiet', model: v[0]! });
    expect(deployment.url).toBe(`http://127.0.0.1:${port}/v1/endpoints/quiet`);
    // The port is free: a serving deployer binds it while the control one is open.
    const server = await start(stateDir, { port });
    expect((await server.status('quiet'))!.url).toBe(deployment.url);
    expect(await servedVersion(deployment.url!)).toBe(1);
    // predict() in control mode loads on demand.
    expect((await control.predict('quiet', [[1, 2]])).predictions).toEqual([answerOf(1)]);

    const anyPort = await start(newStateDir(), { port: 0 }, { mode: 'control' });
    expect((await anyPort.deploy({ endpoint: 'quiet', model: v[0]! })).url).toBeUndefined();
  });

  it('replaces an unpacked bundle folder that no longer loads, and reuses one that does', async () => {
    const stateDir = newStateDir();
    const first = await start(stateDir, { serve: false }, { mode: 'control' });
    await first.deploy({ endpoint: 'unpacked', model: v[0]! });
    await first.deploy({ endpoint: 'kept', model: v[1]! });
    const bundle = join(stateDir, 'deployments', 'bundles', v[0]!.digest);
    await rm(bundle, { recursive: true });
    await mkdir(bundle);
    await writeFile(join(bundle, 'junk.txt'), 'not a bundle');
    const second = await start(stateDir, { serve: false });
    expect((await second.predict('unpacked', [[1, 2]])).predictions).toEqual([answerOf(1)]);
    expect((await second.predict('kept', [[1, 2]])).predictions).toEqual([answerOf(2)]);
    await expect(stat(join(bundle, 'junk.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses an unknown mode', async () => {
    await expect(start(newStateDir(), {}, { mode: 'both' as never })).rejects.toMatchObject({
      code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
      message: expect.stringContaining('mode'),
    });
  });
});

/** Version 21 of model `offset`, stored with a flavor only the control process can load. */
async function storeOtherFlavor(): Promise<ModelVersionRef> {
  const { model } = await import('@cairn/core');
  const { storeArtifact } = await import('@cairn/runtime');
  const workdir = await mkdtemp(join(root, 'other-'));
  const serialized = await model().serialize(
    {
      manifest: { flavor: 'test/other', signature: { inputs: [], outputs: [] } },
      files: { 'offset.txt': '21000' },
    },
    { workdir, name: 'v21' },
  );
  const { digest } = await storeArtifact(localStore(storeDir), serialized);
  return { model: 'offset', version: 21, digest };
}

describe('a serving process stopped by SIGTERM', () => {
  it('writes every sampled prediction still in memory before it exits', async () => {
    const stateDir = newStateDir();
    const control = await start(stateDir, {}, { mode: 'control' });
    await control.deploy({ endpoint: 'shop', model: v[0]! });
    // Batches far larger than the traffic and no timer flush: every row is still in memory at SIGTERM.
    const proc = spawn(
      process.execPath,
      [
        '--conditions=@cairn/source',
        '--import',
        'tsx',
        'test/fixtures/serve.ts',
        JSON.stringify({
          stateDir,
          storeDir,
          predictionLog: { batchRows: 100_000, flushIntervalMs: 3_600_000 },
        }),
      ],
      { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
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
    await expect.poll(() => out, { timeout: 900_000 }).toMatch(/"url":"http/);
    const url = (JSON.parse(out.split('\n')[0]!) as { url: string }).url;
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows: [[i, 2]], unitId: `u${i}` }),
      });
      expect(response.status).toBe(200);
    }
    expect(await listPredictionBatches(stateDir, 'shop')).toEqual([]);
    proc.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    expect(out).toMatch(/"closed":true/);
    const rows = await servedRows({ storage: localStore(storeDir), stateDir }, 'shop');
    expect(rows.map((row) => [row.unitId, row.prediction])).toEqual(
      Array.from({ length: 40 }, (_, i) => [`u${i}`, 1000 + i + 2]),
    );
  });
});
