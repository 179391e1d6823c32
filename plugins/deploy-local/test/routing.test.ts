import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployer, ModelVersionRef } from '@cairn/core';
import { assignVariant, hashToUnit, mulberry32 } from '@cairn/stats';
import { memoryStore } from '@cairn/testkit';
import { GrowthBook } from '@growthbook/growthbook';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDeployer } from '../src/index';
import { offsetLoaders, storeVersions } from './models';

const storage = memoryStore();
let root: string;
let v: ModelVersionRef[];
let deployer: Deployer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-deploy-local-routing-'));
  v = await storeVersions(storage, 3);
  deployer = await localDeployer({ serve: false }).create({
    storage,
    loaders: offsetLoaders().loaders,
    stateDir: root,
  });
});
afterAll(async () => {
  await deployer?.close();
  await rm(root, { recursive: true, force: true });
});

function unitIds(count: number): string[] {
  const random = mulberry32(20261127);
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0 ? `user-${i}` : Math.floor(random() * 2 ** 32).toString(36),
  );
}

/** GrowthBook's own SDK: the variant a GrowthBook experiment with this seed gives the unit. */
function growthBookVariant(seed: string, id: string, weights: number[]): number {
  const result = new GrowthBook({ attributes: { id } }).run({
    key: seed,
    seed,
    variations: weights.map((_, i) => i) as [number, number, ...number[]],
    weights,
    coverage: 1,
    hashVersion: 2,
  });
  return result.inExperiment ? result.variationId : -1;
}

async function versionFor(endpoint: string, unitId: string): Promise<number> {
  return (await deployer.predict(endpoint, [[1, 2]], { unitId })).served.version;
}

describe('canary routing is GrowthBook assignment', () => {
  it.each([1, 10, 20, 50, 90, 99])(
    'a unit is in a %i percent canary exactly when assignVariant(endpoint, id, [p, 100 - p]) is 0 and GrowthBook agrees',
    async (percent) => {
      const endpoint = `canary-${percent}`;
      await deployer.deploy({ endpoint, model: v[0]! });
      await deployer.deploy({ endpoint, model: v[1]!, strategy: { type: 'canary', percent } });
      let inCanary = 0;
      for (const id of unitIds(2000)) {
        const canary = (await versionFor(endpoint, id)) === 2;
        expect(canary).toBe(assignVariant(endpoint, id, [percent, 100 - percent]) === 0);
        expect(canary).toBe(growthBookVariant(endpoint, id, [percent / 100, 1 - percent / 100]) === 0);
        expect(canary).toBe(hashToUnit(endpoint, id, 2) < percent / 100);
        if (canary) inCanary++;
      }
      // The share is near the canary's weight (binomial, 2,000 units: well within 5 standard deviations).
      const sd = Math.sqrt(2000 * (percent / 100) * (1 - percent / 100));
      expect(Math.abs(inCanary - 20 * percent)).toBeLessThanOrEqual(5 * sd + 1);
    },
  );

  it('puts a unit whose hash is exactly p/100 in the primary, as GrowthBook does', async () => {
    const endpoint = 'canary-edge';
    await deployer.deploy({ endpoint, model: v[0]! });
    await deployer.deploy({ endpoint, model: v[1]!, strategy: { type: 'canary', percent: 35 } });
    let edge: string | undefined;
    for (let i = 0; edge === undefined && i < 1_000_000; i++) {
      if (hashToUnit(endpoint, `edge-${i}`, 2) === 0.35) edge = `edge-${i}`;
    }
    expect(edge).toBeDefined();
    expect(growthBookVariant(endpoint, edge!, [0.35, 0.65])).toBe(1);
    expect(await versionFor(endpoint, edge!)).toBe(1);
  });

  it('keeps a unit in the canary when the canary grows', async () => {
    const endpoint = 'growing';
    await deployer.deploy({ endpoint, model: v[0]! });
    await deployer.deploy({ endpoint, model: v[1]!, strategy: { type: 'canary', percent: 10 } });
    const ids = unitIds(500);
    const before = new Set<string>();
    for (const id of ids) if ((await versionFor(endpoint, id)) === 2) before.add(id);
    await deployer.setTraffic(endpoint, { 1: 60, 2: 40 });
    const after = new Set<string>();
    for (const id of ids) if ((await versionFor(endpoint, id)) === 2) after.add(id);
    expect(before.size).toBeGreaterThan(0);
    for (const id of before) expect(after.has(id)).toBe(true);
    expect(after.size).toBeGreaterThan(before.size);
  });
});
