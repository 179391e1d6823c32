import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployerStateDir, type MetadataStore, type StorageDriver } from '@cairn/core';
import { checkLoadTest, quantile, stagingEndpointOf } from '@cairn/delivery';
import localDeployer from '@cairn/deploy-local';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delivery, loaders } from './fixtures/loadtest';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-loadtest-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const deployer = localDeployer({ port: 0 });

async function readJson<T>(digest: string): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.get(digest)) chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString()) as T;
}

function run(delayMs: number, thresholds: Record<string, number>) {
  return runPipeline(delivery, {
    storage,
    metadata,
    projectDir: dir,
    stateDir: join(dir, '.cairn'),
    deployer,
    loaders,
    configs: {
      train: { delayMs, quality: 0.9 },
      register: { model: 'busy' },
      gate: { metric: 'macro_f1' },
      loadtest: { endpoint: 'busy', duration: 1, connections: 2, dropColumns: ['label'], ...thresholds },
      deploy: { endpoint: 'busy' },
    },
  });
}

/** What the project's deployer state says about an endpoint, as another process would read it. */
async function endpointStatus(endpoint: string) {
  const live = await deployer.create({
    storage,
    loaders,
    stateDir: deployerStateDir(join(dir, '.cairn')),
    mode: 'control',
  });
  try {
    return await live.status(endpoint);
  } finally {
    await live.close();
  }
}

describe('the load test step', () => {
  it('passes a normal model, records its percentiles, and lets the deploy step run', async () => {
    const result = await run(0, { p99Ms: 5000, maxErrorRate: 0 });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(result.steps.deploy!.status).toBe('succeeded');
    const measured = await readJson<Record<string, number>>(result.steps.loadtest!.outputs.metrics!.digest);
    expect(measured.tested).toBe(1);
    expect(measured.passed).toBe(1);
    expect(measured.requests).toBeGreaterThan(0);
    expect(measured.errors).toBe(0);
    expect(measured.error_rate).toBe(0);
    expect(measured.p50_ms).toBeGreaterThan(0);
    expect(measured.p50_ms).toBeLessThanOrEqual(measured.p95_ms!);
    expect(measured.p95_ms).toBeLessThanOrEqual(measured.p99_ms!);
    expect(measured.p99_ms).toBeLessThanOrEqual(measured.max_ms!);
    // Throughput is what was answered over how long it ran.
    expect(measured.rps).toBeCloseTo(measured.requests! / measured.duration_s!, 6);
    // The deploy step got the gate's decision through the load test, and deployed.
    const decision = await readJson<{ decision: string }>(result.steps.loadtest!.outputs.decision!.digest);
    expect(decision.decision).toBe('promoted');
    expect(result.steps.loadtest!.outputs.decision!.digest).toBe(result.steps.gate!.outputs.decision!.digest);
    expect((await endpointStatus('busy'))?.routes[0]?.model.version).toBe(1);
    // The staging endpoint is gone; it never was the production one.
    expect(await endpointStatus(stagingEndpointOf('busy'))).toBeUndefined();
    const report = result.steps.loadtest!.outputs.report!;
    expect(report.type).toBe('report');
  });

  it('refuses a model slower than p99Ms with the numbers, and the deploy step never runs', async () => {
    // Every answer busy-waits 60 ms, so p99 cannot be under 20 ms whatever the machine.
    const result = await run(60, { p99Ms: 20 });
    expect(result.status).toBe('failed');
    expect(result.steps.loadtest!.status).toBe('failed');
    expect(result.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
    expect(result.steps.loadtest!.error?.message).toMatch(
      /busy v1 failed its load test: p99 latency [\d.]+ ms > p99Ms 20 ms/,
    );
    const p99 = Number(/p99 latency ([\d.]+) ms/.exec(result.steps.loadtest!.error!.message)![1]);
    expect(p99).toBeGreaterThanOrEqual(60);
    expect(result.steps.deploy!.status).toBe('skipped');
    expect(result.steps.deploy!.executionId).toBeUndefined();
    expect(await endpointStatus('busy')).toBeUndefined();
    expect(await endpointStatus(stagingEndpointOf('busy'))).toBeUndefined();
  });
});

describe('load test thresholds', () => {
  const measured = {
    latencyMs: { p50: 5, p95: 9, p99: 12, mean: 6, max: 30 },
    rps: 100,
    errorRate: 0.02,
    requests: 500,
  };
  it('passes what is within every threshold', () => {
    expect(checkLoadTest(measured, {})).toEqual([]);
    expect(checkLoadTest(measured, { p99Ms: 12, minRps: 100, maxErrorRate: 0.02 })).toEqual([]);
  });
  it('names each broken threshold with both numbers', () => {
    expect(checkLoadTest(measured, { p99Ms: 10, minRps: 150, maxErrorRate: 0.01 })).toEqual([
      'p99 latency 12 ms > p99Ms 10 ms',
      'throughput 100 req/s < minRps 150 req/s',
      'error rate 2 % > maxErrorRate 1 %',
    ]);
  });
  it('counts a test that answered nothing as over p99Ms', () => {
    const none = { rps: 0, errorRate: 1, requests: 40 };
    expect(checkLoadTest(none, { p99Ms: 100 })).toEqual([
      'p99 latency: no request was answered (limit 100 ms)',
    ]);
  });
  it('takes percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([quantile(values, 0.5), quantile(values, 0.95), quantile(values, 0.99)]).toEqual([50, 95, 99]);
    expect(quantile([7], 0.99)).toBe(7);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });
  it('keeps the staging endpoint name valid for the longest endpoint names', () => {
    const long = `a${'b'.repeat(62)}`;
    expect(stagingEndpointOf(long)).toHaveLength(63);
    expect(stagingEndpointOf('penguins')).toBe('penguins-loadtest');
  });
});
