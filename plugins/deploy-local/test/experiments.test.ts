/**
 * Canary experiments through the model server: with the stack's A/B engine,
 * a serving deployer records an exposure for every unit its canary endpoint
 * answers and takes outcomes at POST /v1/endpoints/<name>/outcomes. The
 * engine is the real @cairn/abtest-local.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAbtest } from '@cairn/abtest-local';
import type { AbTestEngine, Deployer } from '@cairn/core';
import { memoryStore } from '@cairn/testkit';
import { freePort } from '@cairn/testkit/ports';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localDeployer } from '../src/index';
import { offsetLoaders, storeVersions } from './models';

let dir: string;
let engine: AbTestEngine;
let deployer: Deployer;
let base: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-deploy-experiments-'));
  engine = await localAbtest({ file: ':memory:' }).create({ stateDir: dir });
  const port = await freePort();
  const storage = memoryStore();
  const [v1, v2] = await storeVersions(storage, 2);
  deployer = await localDeployer({ port }).create({
    storage,
    loaders: offsetLoaders().loaders,
    stateDir: dir,
    experiments: engine,
  });
  await deployer.deploy({ endpoint: 'shop', model: v1! });
  await deployer.deploy({ endpoint: 'shop', model: v2!, strategy: { type: 'canary', percent: 40 } });
  base = `http://127.0.0.1:${port}/v1/endpoints/shop`;
});
afterEach(async () => {
  await deployer.close();
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${base}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
};

describe('canary experiments on the model server', () => {
  it('records one exposure per unit in the arm that served it, and takes outcomes', async () => {
    // Named after the revision that put the canary at 40 % (revision 2).
    const experiment = 'shop-canary-r2';
    await engine.createExperiment({
      name: experiment,
      seed: 'shop',
      variants: [
        { name: 'v2', weight: 40 },
        { name: 'v1', weight: 60 },
      ],
      control: 'v1',
      primaryMetric: { name: 'bought', type: 'binomial', goal: 'increase' },
    });
    const served: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const unitId = `u${i}`;
      // Twice: only the first exposure counts.
      for (const _ of [1, 2]) {
        const { status, body } = await post('predict', { rows: [[1, 2]], unitId });
        expect(status).toBe(200);
        if (_ === 1) served[`v${body.version}`] = (served[`v${body.version}`] ?? 0) + 1;
      }
      const outcome = await post('outcomes', { unitId, value: i % 2, eventId: `e${i}` });
      expect(outcome).toEqual({ status: 202, body: { recorded: true, experiment, metric: 'bought' } });
    }
    // A retried outcome with the same event id is counted once, and the answer says so.
    expect(await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e1' })).toEqual({
      status: 200,
      body: { recorded: false, duplicate: true, experiment, metric: 'bought' },
    });
    // Exposures are recorded off the request path: wait for all 50 (the suite's hang guard bounds it).
    let analysis = await engine.analyze(experiment);
    while ((analysis.exposures.v1 ?? 0) + (analysis.exposures.v2 ?? 0) < 50) {
      await new Promise((r) => setTimeout(r, 20));
      analysis = await engine.analyze(experiment);
    }
    expect(analysis.exposures).toEqual({ v1: served.v1, v2: served.v2 });
    const conversions = analysis.primary.variants.reduce((sum, v) => sum + v.mean * v.units, 0);
    expect(conversions).toBeCloseTo(25, 6);
    // A new split is a new experiment (an experiment's split must not change while it runs).
    await deployer.setTraffic('shop', { 1: 50, 2: 50 });
    const moved = await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e-moved' });
    expect(moved.status).toBe(404);
    expect(moved.body.error.message).toMatch(/no experiment shop-canary-r3/);
  });

  it('refuses outcomes it cannot credit, with a coded error', async () => {
    // No experiment for the canary yet.
    const missing = await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e1' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('CAIRN_EXPERIMENT_NOT_FOUND');
    expect(missing.body.error.message).toMatch(/shop-canary-r2/);
    const long = 'x'.repeat(257);
    for (const [body, message] of [
      [{ value: 1, eventId: 'e1' }, /unitId/],
      [{ unitId: 'u1', value: 'yes', eventId: 'e1' }, /value/],
      [{ unitId: 'u1', value: 1, metric: 3, eventId: 'e1' }, /metric/],
      [{ unitId: 'u1', value: 1 }, /eventId/],
      [{ unitId: 'u1', value: 1, eventId: '' }, /eventId/],
      [{ unitId: long, value: 1, eventId: 'e1' }, /"unitId" is longer than 256/],
      [{ unitId: 'u1', value: 1, eventId: long }, /"eventId" is longer than 256/],
      [{ unitId: 'u1', value: 1, eventId: 'e1', metric: long }, /metric/],
      [[1, 2], /JSON object/],
    ] as const) {
      const bad = await post('outcomes', body);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('CAIRN_DATA_INVALID');
      expect(bad.body.error.message).toMatch(message);
    }
    // A value the experiment's metric refuses (binomial 0/1).
    await engine.createExperiment({
      name: 'shop-canary-r2',
      seed: 'shop',
      variants: [
        { name: 'v2', weight: 40 },
        { name: 'v1', weight: 60 },
      ],
      control: 'v1',
      primaryMetric: { name: 'bought', type: 'binomial', goal: 'increase' },
    });
    // A unit never exposed in the experiment: its outcome would be a forged vote.
    const stranger = await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e1' });
    expect(stranger.status).toBe(409);
    expect(stranger.body.error.code).toBe('CAIRN_EXPERIMENT_INVALID');
    expect(stranger.body.error.message).toMatch(/u1" was never exposed in shop-canary-r2/);
    expect((await engine.analyze('shop-canary-r2')).primary.variants.every((v) => v.units === 0)).toBe(true);
    expect((await post('predict', { rows: [[1, 2]], unitId: 'u1' })).status).toBe(200);
    const invalid = await post('outcomes', { unitId: 'u1', value: 7, eventId: 'e1' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('CAIRN_EXPERIMENT_INVALID');
    // The refused event id was given back: the corrected retry counts.
    expect((await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e1' })).status).toBe(202);
    // No canary: after promotion there is nothing to judge.
    await deployer.promote('shop');
    const done = await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e2' });
    expect(done.status).toBe(404);
    expect(done.body.error.message).toMatch(/no canary/);
  });
});

describe('who may send outcomes', () => {
  const TOKEN = 'outcomes-token-0123456789';
  let guarded: { dir: string; engine: AbTestEngine; deployer: Deployer } | undefined;
  afterEach(async () => {
    if (!guarded) return;
    await guarded.deployer.close();
    await guarded.engine.close();
    await rm(guarded.dir, { recursive: true, force: true });
    guarded = undefined;
  });

  /** A canary endpoint `shop` with its experiment, unit `u1` exposed; returns the outcomes URL on `host`. */
  async function guardedServer(options: Parameters<typeof localDeployer>[0], host: string) {
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-deploy-outcomes-'));
    const abtest = await localAbtest({ file: ':memory:' }).create({ stateDir });
    const port = await freePort();
    const storage = memoryStore();
    const [v1, v2] = await storeVersions(storage, 2);
    const served = await localDeployer({ port, ...options }).create({
      storage,
      loaders: offsetLoaders().loaders,
      stateDir,
      experiments: abtest,
    });
    guarded = { dir: stateDir, engine: abtest, deployer: served };
    await served.deploy({ endpoint: 'shop', model: v1! });
    await served.deploy({ endpoint: 'shop', model: v2!, strategy: { type: 'canary', percent: 40 } });
    await abtest.createExperiment({
      name: 'shop-canary-r2',
      seed: 'shop',
      variants: [
        { name: 'v2', weight: 40 },
        { name: 'v1', weight: 60 },
      ],
      control: 'v1',
      primaryMetric: { name: 'bought', type: 'binomial', goal: 'increase' },
    });
    await served.predict('shop', [[1, 2]], { unitId: 'u1' });
    return `http://${host}:${port}/v1/endpoints/shop/outcomes`;
  }

  const send = async (url: string, headers: Record<string, string> = {}, eventId = 'e1') => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ unitId: 'u1', value: 1, eventId }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };

  it('requires the token, read from ${env:…}, when one is set', async () => {
    process.env.CAIRN_TEST_OUTCOMES_TOKEN = TOKEN;
    try {
      const url = await guardedServer({ outcomesToken: '${env:CAIRN_TEST_OUTCOMES_TOKEN}' }, '127.0.0.1');
      const none = await send(url);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(none.body.error.code).toBe('CAIRN_UNAUTHORIZED');
      const wrong = await send(url, { authorization: `Bearer ${TOKEN}x` });
      expect(wrong.status).toBe(401);
      expect(JSON.stringify(wrong.body)).not.toContain(TOKEN);
      // The refused requests took nothing: the same event id is new to the server.
      const right = await send(url, { authorization: `Bearer ${TOKEN}` });
      expect(right).toMatchObject({ status: 202, body: { recorded: true } });
    } finally {
      delete process.env.CAIRN_TEST_OUTCOMES_TOKEN;
    }
  });

  it('refuses a token that resolves short, and a missing variable, when created', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-deploy-outcomes-'));
    try {
      const create = (outcomesToken: string) =>
        localDeployer({ port: 0, outcomesToken }).create({
          storage: memoryStore(),
          loaders: {},
          stateDir,
        });
      await expect(create('short')).rejects.toMatchObject({ code: 'CAIRN_PLUGIN_OPTIONS_INVALID' });
      await expect(create('${env:CAIRN_TEST_NO_SUCH_TOKEN}')).rejects.toMatchObject({
        code: 'CAIRN_CONFIG_ENV_MISSING',
      });
      expect(() => localDeployer({ outcomesToken: 7 as never })).toThrow(/outcomesToken/);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('keeps its ledger when the ledger folder is removed while serving', async () => {
    const url = await guardedServer({}, '127.0.0.1');
    await rm(join(guarded!.dir, 'deployments', 'ledger'), { recursive: true, force: true });
    // A unit exposed afterwards is written into a new folder, and its outcome is taken.
    await guarded!.deployer.predict('shop', [[1, 2]], { unitId: 'u2' });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ unitId: 'u2', value: 1, eventId: 'e2' }),
    });
    expect(response.status).toBe(202);
  });

  it('takes outcomes from beyond loopback only with a token', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((info) => info && info.family === 'IPv4' && !info.internal)?.address;
    expect(external, 'this test needs a non-loopback IPv4 address on the machine').toBeDefined();
    const open = await guardedServer({ host: '0.0.0.0' }, external!);
    const refused = await send(open);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('CAIRN_UNAUTHORIZED');
    expect(refused.body.error.message).toMatch(/outcomesToken/);
    // The same server still takes them from loopback.
    const local = open.replace(external!, '127.0.0.1');
    expect((await send(local)).status).toBe(202);
    await guarded!.deployer.close();
    await guarded!.engine.close();
    await rm(guarded!.dir, { recursive: true, force: true });
    guarded = undefined;

    const withToken = await guardedServer({ host: '0.0.0.0', outcomesToken: TOKEN }, external!);
    expect((await send(withToken, { authorization: `Bearer ${TOKEN}` })).status).toBe(202);
  });
});
