import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CairnError,
  deployerStateDir,
  type MetadataStore,
  type ModelLoader,
  type StorageDriver,
} from '@cairn/core';
import {
  checkLoadTest,
  keepLoadTestReport,
  type LoadTestResult,
  type LoadTestSettings,
  loadTestError,
  loadTestMetrics,
  loadTestReportDir,
  quantile,
  runLoadTest,
  stagingEndpointOf,
  unansweredMatter,
} from '@cairn/delivery';
import localDeployer from '@cairn/deploy-local';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delivery, FLAVOR, loaders } from './fixtures/loadtest';

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

/**
 * The fixture's model, answering its health check (the first prediction,
 * made when the staging endpoint is deployed) and then `answered` requests,
 * and holding every request after those until `release()`: with 0, no request
 * of the load test is ever answered, on any machine at any speed.
 */
function silentAfterHealthCheck(answered = 0) {
  const held: Array<() => void> = [];
  const silent: Record<string, ModelLoader> = {
    [FLAVOR]: async (bundle) => {
      const model = await loaders[FLAVOR]!(bundle);
      let predictions = 0;
      return {
        predict(rows) {
          if (predictions++ <= answered) return model.predict(rows);
          return new Promise<unknown[]>((resolve) => held.push(() => resolve(model.predict(rows))));
        },
      };
    },
  };
  const release = () => {
    for (const answer of held.splice(0)) answer();
  };
  return { loaders: silent, release };
}

/** The load test step's log lines, of every run of this test. */
let logged: string[] = [];
beforeEach(() => {
  logged = [];
});

function run(
  thresholds: Record<string, number>,
  models: Record<string, ModelLoader> = loaders,
  train: { quality: number; multiply?: number } = { quality: 0.9 },
  /** A run's signal, and what to do on each of the load test step's log lines. */
  extra: { signal?: AbortSignal; onLog?: (message: string) => void } = {},
) {
  return runPipeline(delivery, {
    storage,
    metadata,
    projectDir: dir,
    // Not the default .cairn: a refused test's report goes to the run's state folder, wherever it is.
    stateDir: join(dir, 'state'),
    deployer,
    loaders: models,
    ...(extra.signal ? { signal: extra.signal } : {}),
    configs: {
      train,
      register: { model: 'double' },
      gate: { metric: 'macro_f1' },
      loadtest: { endpoint: 'double', duration: 1, connections: 2, dropColumns: ['label'], ...thresholds },
      deploy: { endpoint: 'double' },
    },
    onEvent: (event) => {
      if (event.type === 'step.log' && event.step === 'loadtest') {
        logged.push(event.message);
        extra.onLog?.(event.message);
      }
    },
  });
}

/**
 * Record v1 with a normal run, then load-test it directly with `model`'s loaders (a model that
 * holds requests), on a deployer of its own; the held requests are let go at the end.
 */
async function loadTestV1(
  model: ReturnType<typeof silentAfterHealthCheck>,
  settings: LoadTestSettings,
): Promise<LoadTestResult> {
  expect((await run({ maxErrorRate: 0 })).status).toBe('succeeded');
  const registered = (await metadata.getModelVersion('double', 1))!;
  const live = await controlDeployer(model.loaders);
  try {
    return await runLoadTest(live, {
      endpoint: 'double',
      model: { model: 'double', version: 1, digest: registered.digest },
      rows: [{ x: 1 }, { x: 2 }],
      settings,
    });
  } finally {
    model.release();
    await live.close();
  }
}

/** A deployer in control mode over this test's project state, as another process would open it. */
const controlDeployer = (models: Record<string, ModelLoader> = loaders) =>
  deployer.create({
    storage,
    loaders: models,
    stateDir: deployerStateDir(join(dir, 'state')),
    mode: 'control',
  });

/** What the project's deployer state says about an endpoint, as another process would read it. */
async function endpointStatus(endpoint: string) {
  const live = await controlDeployer();
  try {
    return await live.status(endpoint);
  } finally {
    await live.close();
  }
}

describe('the load test step', () => {
  it('passes a normal model, records its percentiles, and lets the deploy step run', async () => {
    // Only the error rate is judged: a verdict on latency or throughput would depend on how
    // fast this machine is (their judgement is unit-tested below, on numbers made up here).
    const result = await run({ maxErrorRate: 0 });
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
    // Throughput is what was answered within the test's whole seconds, per second of them: more
    // than nothing, and never more than every answer over those seconds (late ones do not count).
    expect(measured.rps).toBeGreaterThan(0);
    expect(measured.rps! * Math.floor(measured.duration_s!)).toBeLessThanOrEqual(measured.requests!);
    // The deploy step got the gate's decision through the load test, and deployed.
    const decision = await readJson<{ decision: string }>(result.steps.loadtest!.outputs.decision!.digest);
    expect(decision.decision).toBe('promoted');
    expect(result.steps.loadtest!.outputs.decision!.digest).toBe(result.steps.gate!.outputs.decision!.digest);
    expect((await endpointStatus('double'))?.routes[0]?.model.version).toBe(1);
    // The staging endpoint is gone; it never was the production one.
    expect(await endpointStatus(stagingEndpointOf('double'))).toBeUndefined();
    const report = result.steps.loadtest!.outputs.report!;
    expect(report.type).toBe('report');
  });

  it('refuses a model that answers nothing, with the numbers, and the deploy step never runs', async () => {
    const silent = silentAfterHealthCheck();
    try {
      const result = await run({ p99Ms: 5000, minRps: 1, maxErrorRate: 0.01 }, silent.loaders);
      expect(result.status).toBe('failed');
      expect(result.steps.loadtest!.status).toBe('failed');
      expect(result.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
      // No outputs for a failed step: the report and metrics a passing test outputs are kept as
      // files under the run's state folder, and the error names them.
      const kept = loadTestReportDir(join(dir, 'state'), result.runId, 'loadtest');
      expect(kept).toBe(join(dir, 'state', 'loadtests', result.runId, 'loadtest'));
      expect(existsSync(join(dir, '.cairn', 'loadtests'))).toBe(false);
      expect(result.steps.loadtest!.error?.message).toBe(
        'double v1 failed its load test: p99 latency: no request was answered (limit 5000 ms); ' +
          'throughput 0 req/s < minRps 1 req/s; error rate: no request was answered (limit 1 %). ' +
          `Report: ${join(kept, 'report.html')}`,
      );
      expect((await readdir(kept)).sort()).toEqual(['metrics.json', 'report.html']);
      const html = await readFile(join(kept, 'report.html'), 'utf8');
      expect(html).toContain('<strong>Refused</strong>: p99 latency: no request was answered');
      expect(html).toContain('Latency over time');
      expect(JSON.parse(await readFile(join(kept, 'metrics.json'), 'utf8'))).toMatchObject({
        tested: 1,
        passed: 0,
        rps: 0,
        errors: 0,
      });
      expect(logged).toContain(
        `report: ${join(kept, 'report.html')} (metrics: ${join(kept, 'metrics.json')})`,
      );
      expect(result.steps.deploy!.status).toBe('skipped');
      expect(result.steps.deploy!.executionId).toBeUndefined();
      // The timeline is in its log too, every second of it.
      const lines = logged.filter((line) => line.startsWith('second '));
      expect(lines).toEqual(['second 0: 0 answered, 0 errors']);
      expect(await endpointStatus('double')).toBeUndefined();
      expect(await endpointStatus(stagingEndpointOf('double'))).toBeUndefined();
      // The gate's promotion is withdrawn: nothing holds production, so no later deploy ships v1.
      expect(await metadata.getModelByStage('double', 'production')).toBeUndefined();
      expect((await metadata.getModelVersion('double', 1))?.stage).toBe('archived');
    } finally {
      silent.release();
    }
  });

  it('still refuses with the numbers when its report cannot be written, and says so in the log', async () => {
    // A file where the reports' folder would be: no report can be written under it.
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'state', 'loadtests'), 'in the way');
    const silent = silentAfterHealthCheck();
    try {
      const result = await run({ maxErrorRate: 0.01 }, silent.loaders);
      expect(result.steps.loadtest!.status).toBe('failed');
      expect(result.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
      expect(result.steps.loadtest!.error?.message).toBe(
        'double v1 failed its load test: error rate: no request was answered (limit 1 %)',
      );
      expect(logged).toContainEqual(
        expect.stringMatching(
          /^the report of this refused load test could not be written to .*loadtests.*: ENOTDIR/,
        ),
      );
      expect(result.steps.deploy!.status).toBe('skipped');
      // The refusal still withdrew the gate's promotion.
      expect((await metadata.getModelVersion('double', 1))?.stage).toBe('archived');
    } finally {
      silent.release();
    }
  });

  it('gives production back to the version a refused candidate replaced, and a later run deploys that one', async () => {
    const first = await run({ maxErrorRate: 0 });
    expect(first.status).toBe('succeeded');
    const silent = silentAfterHealthCheck();
    try {
      // A better offline metric, so the gate promotes v2 over v1; then its load test refuses it.
      const refused = await run({ maxErrorRate: 0.01 }, silent.loaders, { quality: 0.95, multiply: 3 });
      expect(refused.steps.gate!.status).toBe('succeeded');
      expect(refused.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
      expect(refused.steps.deploy!.status).toBe('skipped');
    } finally {
      silent.release();
    }
    expect((await metadata.getModelByStage('double', 'production'))?.version).toBe(1);
    const v2 = await metadata.getModelVersion('double', 2);
    expect(v2?.stage).toBe('archived');
    const history = await metadata.modelHistory('double');
    expect(history.at(-2)).toMatchObject({ version: 2, to: 'archived', accepted: true });
    expect(history.at(-2)?.reason).toMatch(/^refused by its load test: error rate/);
    expect(history.at(-1)).toMatchObject({ version: 1, to: 'production', accepted: true });
    // The next run (same config, so v2 again): the gate does not bring the archived v2 back, the
    // load test has nothing to test, and the deploy step deploys v1 — never the refused v2.
    const next = await run({ maxErrorRate: 0.01 }, loaders, { quality: 0.95, multiply: 3 });
    expect(next.status).toBe('succeeded');
    const decision = await readJson<{ decision: string; reason: string }>(
      next.steps.gate!.outputs.decision!.digest,
    );
    expect(decision.decision).toBe('kept');
    expect(decision.reason).toMatch(/refused by its load test/);
    expect((await endpointStatus('double'))?.routes.map((r) => r.model.version)).toEqual([1]);
  });
});

describe('a load test that does not finish', () => {
  it('withdraws the promotion without archiving the candidate, removes its staging endpoint, and the next run tests it', async () => {
    expect((await run({ maxErrorRate: 0 })).status).toBe('succeeded');
    const controller = new AbortController();
    // v2 (a better offline metric, so the gate promotes it), its load test cancelled once it runs.
    const cancelled = await run(
      { duration: 600 },
      loaders,
      { quality: 0.95, multiply: 3 },
      {
        signal: controller.signal,
        onLog: (message) => {
          if (message.startsWith('load test of')) controller.abort();
        },
      },
    );
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.steps.deploy?.status).not.toBe('succeeded');
    // Its cleanup ran before the run ended: no staging endpoint left to serve.
    expect(await endpointStatus('double-loadtest')).toBeUndefined();
    // Production is v1 again; v2 is not archived, only back where it was before the gate.
    expect((await metadata.getModelByStage('double', 'production'))?.version).toBe(1);
    expect((await metadata.getModelVersion('double', 2))?.stage).toBe('none');
    const history = await metadata.modelHistory('double');
    expect(history.at(-2)).toMatchObject({ version: 2, to: 'none', accepted: true });
    expect(history.at(-2)?.reason).toBe('its load test did not finish: the run was cancelled');
    expect(history.at(-1)).toMatchObject({ version: 1, to: 'production', accepted: true });
    // The next run: the gate promotes v2 again, its load test passes, and the deploy step ships it.
    const next = await run({ maxErrorRate: 0.01 }, loaders, { quality: 0.95, multiply: 3 });
    expect(next.status).toBe('succeeded');
    const decision = await readJson<{ decision: string }>(next.steps.gate!.outputs.decision!.digest);
    expect(decision.decision).toBe('promoted');
    expect((await endpointStatus('double'))?.routes.map((r) => r.model.version)).toEqual([2]);
  });
});

describe('a promotion no load test cleared', () => {
  it('is tested by the next run, though the gate keeps it, and refused like a new candidate', async () => {
    expect((await run({ maxErrorRate: 0 })).status).toBe('succeeded');
    // A passing test records its clearance on the version it cleared.
    expect((await metadata.modelHistory('double')).at(-1)).toMatchObject({
      version: 1,
      from: 'production',
      to: 'production',
      actor: 'cairn-loadtest',
    });
    // v2 (worse offline, so the gate keeps it out), then promoted the way the gate would, as if the
    // process running its load test had been killed outright before it could clear or withdraw it.
    const worse = { quality: 0.5, multiply: 3 };
    expect((await run({ maxErrorRate: 0 }, loaders, worse)).status).toBe('succeeded');
    await metadata.transitionStage({
      model: 'double',
      version: 2,
      to: 'production',
      reason: 'macro_f1 better than production',
      actor: 'cairn-gate',
      expectedFrom: 'none',
    });
    const silent = silentAfterHealthCheck();
    let next: Awaited<ReturnType<typeof run>>;
    try {
      next = await run({ maxErrorRate: 0.01 }, silent.loaders, worse);
    } finally {
      silent.release();
    }
    const decision = await readJson<{ decision: string; reason: string }>(
      next.steps.gate!.outputs.decision!.digest,
    );
    expect(decision).toMatchObject({ decision: 'kept', reason: 'v2 is already in production' });
    expect(logged.some((line) => line.includes('no load test cleared it'))).toBe(true);
    expect(next.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
    expect(next.steps.deploy!.status).toBe('skipped');
    expect((await metadata.getModelVersion('double', 2))?.stage).toBe('archived');
    expect((await metadata.getModelByStage('double', 'production'))?.version).toBe(1);
    expect((await endpointStatus('double'))?.routes.map((r) => r.model.version)).toEqual([1]);
  });
});

describe('the delivery steps refuse a typo in a config key', () => {
  it('names the key meant, for the load test and for the gate, before anything runs', async () => {
    const typo = await run({ p99ms: 5 }).catch((error: unknown) => error);
    expect(typo).toBeInstanceOf(CairnError);
    expect((typo as CairnError).code).toBe('CAIRN_CONFIG_INVALID');
    expect(JSON.stringify((typo as CairnError).context ?? {}) + (typo as CairnError).message).toMatch(
      /p99ms.*did you mean `p99Ms`/,
    );
    // The gate passes its config through: a misspelt minImprovement was silently no requirement.
    const gate = await runPipeline(delivery, {
      storage,
      metadata,
      projectDir: dir,
      stateDir: join(dir, 'state'),
      deployer,
      loaders,
      configs: {
        train: { quality: 0.9 },
        register: { model: 'double' },
        gate: { metric: 'macro_f1', minImprovment: 0.5 },
        loadtest: { endpoint: 'double', duration: 1, connections: 1 },
        deploy: { endpoint: 'double' },
      },
    }).catch((error: unknown) => error);
    expect((gate as CairnError).code).toBe('CAIRN_CONFIG_INVALID');
    expect(JSON.stringify((gate as CairnError).context ?? {}) + (gate as CairnError).message).toMatch(
      /minImprovment.*did you mean `minImprovement`/,
    );
    expect(await metadata.listRuns({})).toEqual([]);
  });
});

describe('the load test throughput', () => {
  it('counts the answers within the duration, so it never reads above the rate asked for', async () => {
    // Every request answered at once; autocannon sends each second's share of the rate at its start.
    const result = await loadTestV1(silentAfterHealthCheck(1_000_000), {
      duration: 2,
      connections: 4,
      rate: 40,
    });
    expect(result.succeeded).toBeGreaterThan(0);
    expect(result.rps).toBeLessThanOrEqual(40);
    // Answers after the duration still count as answers (and in their second of the timeline).
    expect(result.timeline.reduce((sum, second) => sum + second.requests, 0)).toBe(result.requests);
  });
});

describe('the load test timeline', () => {
  it('has every second of the test, those in which nothing was answered too', async () => {
    const result = await loadTestV1(silentAfterHealthCheck(), { duration: 2, connections: 2 });
    // Nothing was answered after the health check: two seconds, both empty (not an empty timeline).
    expect(result.succeeded).toBe(0);
    expect(result.timeline.map((second) => second.second)).toEqual([0, 1]);
    expect(result.timeline.every((second) => second.requests === 0 && !second.latencyMs)).toBe(true);
  });
});

describe('a model that stalls late', () => {
  it('fails p99Ms on the requests it never answered, though the ones it did were fast', async () => {
    // Five answers, then nothing: the five come in milliseconds, the stall lasts until the end.
    const result = await loadTestV1(silentAfterHealthCheck(5), { duration: 5, connections: 2, p99Ms: 1000 });
    expect(result.succeeded).toBe(5);
    expect(result.unanswered.requests).toBe(2);
    expect(result.passed).toBe(false);
    expect(result.failures).toContainEqual(
      expect.stringMatching(
        /^2 request\(s\) still unanswered when the test ended, one after [\d.]+ ms > p99Ms 1000 ms$/,
      ),
    );
  });
});

describe('the staging endpoint', () => {
  async function deployStaging(reason: string) {
    const registered = (await metadata.getModelVersion('double', 1))!;
    const live = await controlDeployer();
    try {
      await live.deploy({
        endpoint: stagingEndpointOf('double'),
        model: { model: 'double', version: 1, digest: registered.digest },
        strategy: { type: 'blue-green' },
        reason,
      });
      return {
        live: await controlDeployer(),
        registered,
      };
    } finally {
      await live.close();
    }
  }
  const test = (live: Awaited<ReturnType<typeof deployStaging>>['live'], digest: string) =>
    runLoadTest(live, {
      endpoint: 'double',
      model: { model: 'double', version: 1, digest },
      rows: [{ x: 1 }],
      settings: { duration: 1, connections: 1 },
    });

  it('never replaces an endpoint of that name that no load test made', async () => {
    expect((await run({ maxErrorRate: 0 })).status).toBe('succeeded');
    const { live, registered } = await deployStaging('deployed by hand');
    try {
      const error = await test(live, registered.digest).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).code).toBe('CAIRN_DEPLOY_INVALID');
      expect((error as CairnError).message).toMatch(/exists and is not a load test's staging endpoint/);
      // Still there, unchanged.
      expect(await endpointStatus(stagingEndpointOf('double'))).toMatchObject({
        revision: 1,
        reason: 'deployed by hand',
      });
    } finally {
      await live.close();
    }
  });

  it('refuses while another load test holds it, and takes over one a stopped test left behind', async () => {
    expect((await run({ maxErrorRate: 0 })).status).toBe('succeeded');
    const host = hostname();
    // This process is alive: a running test.
    const { live, registered } = await deployStaging(
      `load test of double v1 before it serves double (load test pid ${process.pid} on ${host})`,
    );
    try {
      const error = await test(live, registered.digest).catch((e: unknown) => e);
      expect((error as CairnError).code).toBe('CAIRN_DEPLOY_INVALID');
      expect((error as CairnError).message).toMatch(/another load test of "double" is using double-loadtest/);
      expect((await endpointStatus(stagingEndpointOf('double')))?.revision).toBe(1);
      await live.remove(stagingEndpointOf('double'));
    } finally {
      await live.close();
    }
    // A process that is gone (a child that exited): a leftover, removed, then the test runs.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const { live: again } = await deployStaging(
      `load test of double v1 before it serves double (load test pid ${gone.stdout} on ${host})`,
    );
    try {
      const result = await test(again, registered.digest);
      expect(result.requests).toBeGreaterThan(0);
      expect(await endpointStatus(stagingEndpointOf('double'))).toBeUndefined();
    } finally {
      await again.close();
    }
  });
});

describe('load test thresholds', () => {
  const measured = {
    latencyMs: { p50: 5, p95: 9, p99: 12, mean: 6, max: 30 },
    rps: 100,
    errorRate: 0.02,
    requests: 500,
  };
  it('passes what is within every threshold, limits included', () => {
    expect(checkLoadTest(measured, {})).toEqual([]);
    expect(checkLoadTest(measured, { p99Ms: 12, minRps: 100, maxErrorRate: 0.02 })).toEqual([]);
    expect(checkLoadTest(measured, { p99Ms: 12.5, minRps: 99.9, maxErrorRate: 0.5 })).toEqual([]);
  });
  it('fails p99Ms on a request still unanswered at the end that had waited longer than the limit', () => {
    const stalled = { ...measured, unanswered: { requests: 2, longestWaitMs: 1500 } };
    expect(checkLoadTest(stalled, { p99Ms: 100 })).toEqual([
      '2 request(s) still unanswered when the test ended, one after 1500 ms > p99Ms 100 ms',
    ]);
    // Waiting less than the limit (requests in flight when a healthy test stops) is no failure.
    expect(
      checkLoadTest({ ...measured, unanswered: { requests: 2, longestWaitMs: 3 } }, { p99Ms: 100 }),
    ).toEqual([]);
    expect(checkLoadTest(stalled, {})).toEqual([]);
  });
  it('fails on each threshold alone, naming both numbers', () => {
    expect(checkLoadTest(measured, { p99Ms: 11.99 })).toEqual(['p99 latency 12 ms > p99Ms 11.99 ms']);
    expect(checkLoadTest(measured, { minRps: 100.5 })).toEqual(['throughput 100 req/s < minRps 100.5 req/s']);
    expect(checkLoadTest(measured, { maxErrorRate: 0.019 })).toEqual(['error rate 2 % > maxErrorRate 1.9 %']);
    // One broken with the other two met: only the broken one is named.
    expect(checkLoadTest(measured, { p99Ms: 10, minRps: 50, maxErrorRate: 0.05 })).toEqual([
      'p99 latency 12 ms > p99Ms 10 ms',
    ]);
    expect(checkLoadTest(measured, { p99Ms: 20, minRps: 150, maxErrorRate: 0.05 })).toEqual([
      'throughput 100 req/s < minRps 150 req/s',
    ]);
    expect(checkLoadTest(measured, { p99Ms: 20, minRps: 50, maxErrorRate: 0 })).toEqual([
      'error rate 2 % > maxErrorRate 0 %',
    ]);
  });
  it('names every broken threshold, in the order p99, throughput, error rate', () => {
    expect(checkLoadTest(measured, { p99Ms: 10, minRps: 150, maxErrorRate: 0.01 })).toEqual([
      'p99 latency 12 ms > p99Ms 10 ms',
      'throughput 100 req/s < minRps 150 req/s',
      'error rate 2 % > maxErrorRate 1 %',
    ]);
  });
  it('rounds the measured numbers it quotes', () => {
    const odd = {
      latencyMs: { ...measured.latencyMs, p99: 12.3456 },
      rps: 3.26,
      errorRate: 1 / 3,
      requests: 9,
    };
    expect(checkLoadTest(odd, { p99Ms: 10, minRps: 5, maxErrorRate: 0.1 })).toEqual([
      'p99 latency 12.35 ms > p99Ms 10 ms',
      'throughput 3.3 req/s < minRps 5 req/s',
      'error rate 33.33 % > maxErrorRate 10 %',
    ]);
  });
  it('counts a test whose requests all failed as over p99Ms, under minRps and over maxErrorRate', () => {
    const failed = { rps: 0, errorRate: 1, requests: 40 };
    expect(checkLoadTest(failed, { p99Ms: 100, minRps: 1, maxErrorRate: 0.01 })).toEqual([
      'p99 latency: no request was answered (limit 100 ms)',
      'throughput 0 req/s < minRps 1 req/s',
      'error rate 100 % > maxErrorRate 1 %',
    ]);
  });
  it('does not pass maxErrorRate on a test in which no request finished (0 errors of 0)', () => {
    const none = { rps: 0, errorRate: 0, requests: 0 };
    expect(checkLoadTest(none, { maxErrorRate: 0.01 })).toEqual([
      'error rate: no request was answered (limit 1 %)',
    ]);
    expect(checkLoadTest(none, { p99Ms: 100 })).toEqual([
      'p99 latency: no request was answered (limit 100 ms)',
    ]);
    // No threshold, no judgement.
    expect(checkLoadTest(none, {})).toEqual([]);
  });
  it('refuses with CAIRN_LOADTEST_FAILED, naming the version and every broken threshold', () => {
    const thresholds = { p99Ms: 10, minRps: 150 };
    const failures = checkLoadTest(measured, thresholds);
    const result: LoadTestResult = {
      endpoint: 'double',
      stagingEndpoint: stagingEndpointOf('double'),
      model: { model: 'double', version: 3, digest: 'sha256:0' },
      settings: { duration: 5, connections: 2, rowsPerRequest: 1, dropColumns: [] },
      thresholds,
      ...measured,
      succeeded: 490,
      errors: 10,
      durationSeconds: 4.9,
      timeline: [],
      latencySample: [],
      unanswered: { requests: 0, longestWaitMs: 0 },
      failures,
      passed: false,
    };
    const error = loadTestError(result);
    expect(error).toBeInstanceOf(CairnError);
    expect(error.code).toBe('CAIRN_LOADTEST_FAILED');
    expect(error.message).toBe(
      'double v3 failed its load test: p99 latency 12 ms > p99Ms 10 ms; throughput 100 req/s < minRps 150 req/s',
    );
    expect(error.hint).toMatch(/loadtest\.yaml/);
    expect(loadTestMetrics(result)).toMatchObject({ p99_ms: 12, rps: 100, error_rate: 0.02, passed: 0 });
    // Where the report was kept, and where the thresholds are set, as the caller says.
    const named = loadTestError(result, {
      kept: { report: '/p/report.html', metrics: '/p/metrics.json' },
      thresholds: 'its flags',
      hint: 'One more thing.',
    });
    expect(named.message).toBe(`${error.message}. Report: /p/report.html`);
    expect(named.hint).toBe(
      'Make the model faster, or loosen the threshold in its flags if it is too strict. Its metrics: /p/metrics.json. One more thing.',
    );
  });
  it('keeps a report whole: the HTML report and the metrics JSON, and no temporary file', async () => {
    const result = {
      endpoint: 'double',
      stagingEndpoint: stagingEndpointOf('double'),
      model: { model: 'double', version: 3, digest: 'sha256:0' },
      settings: { duration: 5, connections: 2, rowsPerRequest: 1, dropColumns: [] },
      thresholds: { p99Ms: 10 },
      ...measured,
      succeeded: 490,
      errors: 10,
      durationSeconds: 4.9,
      timeline: [{ second: 0, requests: 500, errors: 10, latencyMs: { p50: 5, p95: 9, p99: 12 } }],
      latencySample: [5, 9, 12],
      unanswered: { requests: 0, longestWaitMs: 0 },
      failures: ['p99 latency 12 ms > p99Ms 10 ms'],
      passed: false,
    } satisfies LoadTestResult;
    const target = join(dir, 'deep', 'kept');
    const kept = await keepLoadTestReport(result, target);
    expect(kept).toEqual({ report: join(target, 'report.html'), metrics: join(target, 'metrics.json') });
    expect((await readdir(target)).sort()).toEqual(['metrics.json', 'report.html']);
    expect(JSON.parse(await readFile(kept.metrics, 'utf8'))).toEqual({
      tested: 1,
      ...loadTestMetrics(result),
    });
    expect(await readFile(kept.report, 'utf8')).toContain('p99 latency 12 ms &gt; p99Ms 10 ms');
  });
  it('mentions requests unanswered at the end only when they matter', () => {
    const base = {
      latencyMs: { p50: 5, p95: 9, p99: 12, mean: 6, max: 30 },
      durationSeconds: 10,
      thresholds: {},
    };
    const waiting = (requests: number, longestWaitMs: number) => ({ requests, longestWaitMs });
    // In flight when a healthy test stopped, however many: not worth a word.
    expect(unansweredMatter({ ...base, unanswered: waiting(0, 0) })).toBe(false);
    expect(unansweredMatter({ ...base, unanswered: waiting(4, 8) })).toBe(false);
    // Longer than the answers' p99 but short beside the test (under a tenth of it): still normal.
    expect(unansweredMatter({ ...base, unanswered: waiting(4, 500) })).toBe(false);
    // A stall at the end: longer than p99 and a tenth of the test or more.
    expect(unansweredMatter({ ...base, unanswered: waiting(1, 1000) })).toBe(true);
    // Longer than the p99Ms limit (a broken threshold), however short beside the test.
    expect(unansweredMatter({ ...base, thresholds: { p99Ms: 20 }, unanswered: waiting(1, 25) })).toBe(true);
    expect(unansweredMatter({ ...base, thresholds: { p99Ms: 20 }, unanswered: waiting(1, 15) })).toBe(false);
    // Nothing was answered at all: every wait matters.
    const { latencyMs: _none, ...silent } = base;
    expect(unansweredMatter({ ...silent, unanswered: waiting(2, 3) })).toBe(true);
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
