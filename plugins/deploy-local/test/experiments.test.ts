/**
 * Canary experiments through the model server: with the stack's A/B engine,
 * a serving deployer records an exposure for every unit its canary endpoint
 * answers and takes outcomes at POST /v1/endpoints/<name>/outcomes. The
 * engine is the real @cairn/abtest-local.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
    // A retried outcome with the same event id is counted once.
    expect((await post('outcomes', { unitId: 'u1', value: 1, eventId: 'e1' })).status).toBe(202);
    const deadline = Date.now() + 5000;
    let analysis = await engine.analyze(experiment);
    while ((analysis.exposures.v1 ?? 0) + (analysis.exposures.v2 ?? 0) < 50 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      analysis = await engine.analyze(experiment);
    }
    expect(analysis.exposures).toEqual({ v1: served.v1, v2: served.v2 });
    const conversions = analysis.primary.variants.reduce((sum, v) => sum + v.mean * v.units, 0);
    expect(conversions).toBeCloseTo(25, 6);
    // A new split is a new experiment (an experiment's split must not change while it runs).
    await deployer.setTraffic('shop', { 1: 50, 2: 50 });
    const moved = await post('outcomes', { unitId: 'u1', value: 1 });
    expect(moved.status).toBe(404);
    expect(moved.body.error.message).toMatch(/no experiment shop-canary-r3/);
  });

  it('refuses outcomes it cannot credit, with a coded error', async () => {
    // No experiment for the canary yet.
    const missing = await post('outcomes', { unitId: 'u1', value: 1 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('CAIRN_EXPERIMENT_NOT_FOUND');
    expect(missing.body.error.message).toMatch(/shop-canary-r2/);
    for (const [body, message] of [
      [{ value: 1 }, /unitId/],
      [{ unitId: 'u1', value: 'yes' }, /value/],
      [{ unitId: 'u1', value: 1, metric: 3 }, /metric/],
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
    const invalid = await post('outcomes', { unitId: 'u1', value: 7 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('CAIRN_EXPERIMENT_INVALID');
    // No canary: after promotion there is nothing to judge.
    await deployer.promote('shop');
    const done = await post('outcomes', { unitId: 'u1', value: 1 });
    expect(done.status).toBe(404);
    expect(done.body.error.message).toMatch(/no canary/);
  });
});
