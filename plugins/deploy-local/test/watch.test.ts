/**
 * Serving that can be watched, over real HTTP: Prometheus metrics at
 * /metrics, and the prediction log that a monitoring step reads back as
 * served rows (drift measured on them with @cairn/tabular).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Deployer, type DeployerContext, model, type StorageDriver } from '@cairn/core';
import { storeArtifact } from '@cairn/runtime';
import { detectDrift, tableFromRows } from '@cairn/tabular';
import { memoryStore } from '@cairn/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDeployerOptions, listPredictionBatches, localDeployer, servedRows } from '../src/index';
import { offsetLoaders, storeVersions } from './models';

let root: string;
let dirs = 0;
const open: Deployer[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-deploy-watch-'));
});
afterEach(async () => {
  for (const deployer of open.splice(0)) await deployer.close();
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function start(
  storage: StorageDriver,
  options: LocalDeployerOptions = {},
  context: Partial<DeployerContext> = {},
) {
  const stateDir = join(root, `state-${++dirs}`);
  const deployer = await localDeployer({ port: 0, ...options }).create({
    storage,
    loaders: offsetLoaders().loaders,
    stateDir,
    ...context,
  });
  open.push(deployer);
  return { deployer, stateDir };
}

const baseOf = (url: string) => url.slice(0, url.indexOf('/v1/'));

async function predict(url: string, body: unknown) {
  const response = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** The value of one sample of the Prometheus text, by metric name and exact labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries(
      [...inside.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]] as const),
    );
    const wanted = Object.entries(labels);
    if (Object.keys(found).length === wanted.length && wanted.every(([k, v]) => found[k] === v)) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('counts requests, errors and latency per endpoint, version and role, with load times and process metrics', async () => {
    const storage = memoryStore();
    const [v1, v2, v3] = await storeVersions(storage, 3);
    const { deployer } = await start(storage);
    await deployer.deploy({ endpoint: 'shop', model: v1! });
    await deployer.deploy({ endpoint: 'shop', model: v2!, strategy: { type: 'canary', percent: 30 } });
    const url = (await deployer.deploy({ endpoint: 'shop', model: v3!, strategy: { type: 'shadow' } })).url!;

    const served = { primary: 0, canary: 0 };
    for (let i = 0; i < 60; i++) {
      const { status, body } = await predict(url, { rows: [[1, 2]], unitId: `u${i}` });
      expect(status).toBe(200);
      served[body.role as 'primary' | 'canary']++;
    }
    expect(served.canary).toBeGreaterThan(0);
    expect(served.primary).toBeGreaterThan(0);
    // Two failures of the model on one route, and one bad row that is the caller's fault.
    const failing = await predict(url, { rows: [['explode']], unitId: 'u0' });
    expect(failing.status).toBe(500);
    const bad = await predict(url, { rows: [['a']], unitId: 'u0' });
    expect(bad.status).toBe(400);
    const u0Role = (await predict(url, { rows: [[1, 2]], unitId: 'u0' })).body.role as 'primary' | 'canary';
    served[u0Role] += 3;

    const base = baseOf(url);
    const read = async () => {
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return response.text();
    };
    const label = (version: number, role: string) => ({
      endpoint: 'shop',
      model: 'offset',
      version: String(version),
      role,
    });
    // The shadow runs after each successful answer, off the request's path: wait until all 61 copies have run.
    await expect
      .poll(async () => sample(await read(), 'cairn_serving_requests_total', label(3, 'shadow')))
      .toBe(61);
    const text = await read();
    expect(sample(text, 'cairn_serving_requests_total', label(1, 'primary'))).toBe(served.primary);
    expect(sample(text, 'cairn_serving_requests_total', label(2, 'canary'))).toBe(served.canary);
    const erring = u0Role === 'canary' ? label(2, 'canary') : label(1, 'primary');
    expect(sample(text, 'cairn_serving_errors_total', erring)).toBe(1);
    // A failed answer is not copied to the shadow; the bad row is nobody's error.
    expect(sample(text, 'cairn_serving_errors_total', label(3, 'shadow'))).toBeUndefined();
    expect(sample(text, 'cairn_serving_request_duration_seconds_count', label(3, 'shadow'))).toBe(61);
    // Latency is observed for every request the model answered, the refused row included: all but the failure.
    const answered = (u0Role === 'primary' ? served.primary : served.canary) - 1;
    expect(sample(text, 'cairn_serving_request_duration_seconds_count', erring)).toBe(answered);
    expect(sample(text, 'cairn_serving_request_duration_seconds_bucket', { ...erring, le: '+Inf' })).toBe(
      answered,
    );
    for (const ref of [v1!, v2!, v3!]) {
      const seconds = sample(text, 'cairn_serving_model_load_seconds', {
        model: 'offset',
        version: String(ref.version),
        digest: ref.digest,
      });
      expect(seconds).toBeGreaterThan(0);
    }
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
  });

  it('is a 404 with metrics off, and refuses a method other than GET', async () => {
    const storage = memoryStore();
    const [v1] = await storeVersions(storage, 1);
    const { deployer } = await start(storage, { metrics: false });
    const base = baseOf((await deployer.deploy({ endpoint: 'shop', model: v1! })).url!);
    const off = await fetch(`${base}/metrics`);
    expect(off.status).toBe(404);
    expect(((await off.json()) as any).error.code).toBe('CAIRN_USAGE');
    const { deployer: on } = await start(storage);
    const onBase = baseOf((await on.deploy({ endpoint: 'shop', model: v1! })).url!);
    const posted = await fetch(`${onBase}/metrics`, { method: 'POST' });
    expect(posted.status).toBe(405);
  });
});

describe('prediction log', () => {
  it('writes every sampled row with its version and unit id to storage, in batches, flushed on close', async () => {
    const storage = memoryStore();
    const [v1, v2] = await storeVersions(storage, 2);
    const { deployer, stateDir } = await start(storage, {
      predictionLog: { batchRows: 8, flushIntervalMs: 3_600_000 },
    });
    await deployer.deploy({ endpoint: 'shop', model: v1! });
    const url = (
      await deployer.deploy({ endpoint: 'shop', model: v2!, strategy: { type: 'canary', percent: 50 } })
    ).url!;
    const answers: Array<{ unitId: string; version: number; rows: number[][]; predictions: number[] }> = [];
    for (let i = 0; i < 15; i++) {
      const rows = [
        [i, 1],
        [i, 2],
      ];
      const { body } = await predict(url, { rows, unitId: `u${i}` });
      answers.push({ unitId: `u${i}`, version: body.version, rows, predictions: body.predictions });
    }
    // 30 rows: three full batches written while serving (a batch starts at 8 waiting rows), the rest on close.
    await deployer.close();
    const batches = await listPredictionBatches(stateDir, 'shop');
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches.reduce((sum, b) => sum + b.rows, 0)).toBe(30);
    for (const batch of batches) expect(await storage.stat(batch.digest)).toMatchObject({ size: batch.size });

    const rows = await servedRows({ storage, stateDir }, 'shop');
    expect(rows).toHaveLength(30);
    const expected = answers.flatMap((answer) =>
      answer.rows.map((row, j) => ({
        unitId: answer.unitId,
        version: answer.version,
        role: answer.version === 2 ? 'canary' : 'primary',
        row,
        prediction: answer.predictions[j],
        revision: 2,
        endpoint: 'shop',
        model: 'offset',
      })),
    );
    expect(rows.map(({ at: _, ...rest }) => rest)).toEqual(expected);
    const v2Rows = await servedRows({ storage, stateDir }, 'shop', { version: 2 });
    expect(v2Rows).toEqual(rows.filter((row) => row.version === 2));
    expect(v2Rows.length).toBeGreaterThan(0);
  });

  it('logs about the sampled share of requests', async () => {
    const storage = memoryStore();
    const [v1] = await storeVersions(storage, 1);
    const { deployer, stateDir } = await start(storage, { predictionLog: { sample: 0.25 } });
    const url = (await deployer.deploy({ endpoint: 'shop', model: v1! })).url!;
    for (let i = 0; i < 400; i++) expect((await predict(url, { rows: [[i, 0]] })).status).toBe(200);
    await deployer.close();
    const logged = (await servedRows({ storage, stateDir }, 'shop')).length;
    // Binomial(400, 0.25): mean 100, sd ≈ 8.7; these bounds are ±5.7 sd.
    expect(logged).toBeGreaterThan(50);
    expect(logged).toBeLessThan(150);
  });

  it('holds at most maxPendingRows while storage fails, counts what it drops, and writes the rest once storage is back', async () => {
    const inner = memoryStore();
    const [v1] = await storeVersions(inner, 1);
    let failing = true;
    // The project's store with its writes refused: what a full disk or an unreachable bucket looks like.
    const storage: StorageDriver = {
      ...inner,
      name: 'flaky',
      put: (source, options) =>
        failing ? Promise.reject(new Error('storage is down')) : inner.put(source, options),
    };
    const { deployer, stateDir } = await start(storage, {
      predictionLog: { batchRows: 5, maxPendingRows: 20, flushIntervalMs: 3_600_000 },
    });
    const url = (await deployer.deploy({ endpoint: 'shop', model: v1! })).url!;
    for (let i = 0; i < 50; i++) expect((await predict(url, { rows: [[i, 0]] })).status).toBe(200);
    const flushing = (deployer as unknown as { flushPredictionLog(): Promise<void> }).flushPredictionLog();
    await expect(flushing).rejects.toThrow(/storage is down/);
    const metrics = await (await fetch(`${baseOf(url)}/metrics`)).text();
    expect(sample(metrics, 'cairn_prediction_log_dropped_rows_total', {})).toBeUndefined();
    expect(metrics).toMatch(/^cairn_prediction_log_dropped_rows_total 30$/m);
    failing = false;
    await deployer.close();
    const rows = await servedRows({ storage, stateDir }, 'shop');
    // The first 20 rows were kept; nothing else was held.
    expect(rows.map((row) => (row.row as number[])[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('feeds drift detection with what the endpoint served', async () => {
    const storage = memoryStore();
    const workdir = await mkdtemp(join(root, 'bundle-'));
    const serialized = await model().serialize(
      {
        manifest: { flavor: 'test/objects', signature: { inputs: [], outputs: [] } },
        files: { 'none.txt': '' },
      },
      { workdir, name: 'objects' },
    );
    const { digest } = await storeArtifact(storage, serialized);
    const loaders = {
      'test/objects': () => ({
        predict: (rows: readonly unknown[]) => rows.map((row) => (row as { x: number }).x > 0.5),
      }),
    };
    const { deployer, stateDir } = await start(storage, { predictionLog: {} }, { loaders });
    const url = (
      await deployer.deploy({ endpoint: 'scores', model: { model: 'objects', version: 1, digest } })
    ).url!;
    // Training saw x uniform on [0, 1); traffic arrives shifted up by 0.4, colour unchanged.
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const colour = () => (random() < 0.5 ? 'red' : 'blue');
    const training = Array.from({ length: 500 }, () => ({ x: random(), colour: colour() }));
    for (let i = 0; i < 50; i++) {
      const rows = Array.from({ length: 10 }, () => ({ x: random() + 0.4, colour: colour() }));
      expect((await predict(url, { rows, unitId: `u${i}` })).status).toBe(200);
    }
    await deployer.close();

    const served = await servedRows({ storage, stateDir }, 'scores');
    expect(served).toHaveLength(500);
    const current = tableFromRows(served.map((row) => row.row as { x: number; colour: string }));
    const report = detectDrift(tableFromRows(training), current);
    expect(report.drifted).toBe(true);
    const byColumn = Object.fromEntries(report.columns.map((column) => [column.column, column.drifted]));
    expect(byColumn).toEqual({ x: true, colour: false });
  });
});
