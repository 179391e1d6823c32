import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AbTestEngine, ExperimentDefinition } from '@cairn/core';
import { assignVariant, msprtProportions, mulberry32, normalSample } from '@cairn/stats';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { analyzeAggregates, comparisonKey, type VariantAggregate } from '../src/analysis';
import { normalizeDefinition } from '../src/definition';
import { type LocalAbTestEngine, localAbtest } from '../src/index';
import { latestVersion } from '../src/schema';

let root: string;
const engines: AbTestEngine[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-abtest-sequential-'));
});
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
async function open(file: string): Promise<LocalAbTestEngine> {
  const engine = (await localAbtest({ file }).create({ stateDir: root })) as LocalAbTestEngine;
  engines.push(engine);
  return engine;
}

const experiment: ExperimentDefinition = {
  name: 'checkout',
  variants: [
    { name: 'control', weight: 1 },
    { name: 'treatment', weight: 1 },
  ],
  primaryMetric: { name: 'converted', type: 'binomial', goal: 'increase' },
};

/** Exposes units `from`..`to − 1`; a unit converts when `converts(variant, i)`. */
async function feed(
  engine: AbTestEngine,
  from: number,
  to: number,
  converts: (variant: string, i: number) => boolean,
) {
  for (let i = from; i < to; i++) {
    const unit = `u${i}`;
    const { variant } = await engine.assign(experiment.name, unit);
    await engine.recordExposure(experiment.name, unit);
    if (converts(variant, i)) await engine.recordOutcome(experiment.name, unit, 'converted', 1);
  }
}

describe('the always-valid p-value is a running minimum, kept in the file', () => {
  it('keeps a ship decision when a later look alone would say continue, across close and reopen', async () => {
    const file = join(root, 'running-min.db');
    let engine = await open(file);
    await engine.createExperiment(experiment);
    // First 600 units: treatment converts 1 in 4, control 1 in 10.
    await feed(engine, 0, 600, (variant, i) => (variant === 'treatment' ? i % 4 === 0 : i % 10 === 0));
    const first = await engine.analyze(experiment.name);
    expect(first.decision.action).toBe('ship');
    const shippedAt = first.primary.comparisons[0]!.sequentialPValue;
    expect(shippedAt).toBeLessThan(0.05);

    // Then 1,000 units where the control converts 1 in 6 and the treatment 1 in 10: the cumulative
    // rates end up close, and the data of this look alone no longer clear alpha.
    await feed(engine, 600, 1600, (variant, i) => (variant === 'treatment' ? i % 10 === 0 : i % 6 === 0));
    await engine.close();
    engine = await open(file);
    const later = await engine.analyze(experiment.name);
    const [control, treatment] = later.primary.variants;
    const fresh = msprtProportions(
      { successes: Math.round(control!.mean * control!.units), trials: control!.units },
      { successes: Math.round(treatment!.mean * treatment!.units), trials: treatment!.units },
    );
    expect(fresh.alwaysValidPValue).toBeGreaterThan(0.05);
    expect(later.primary.comparisons[0]!.sequentialPValue).toBe(shippedAt);
    expect(later.decision.action).toBe('ship');
  });

  it('does not carry looks taken before both arms reach minimumSampleSize', async () => {
    const engine = await open(join(root, 'burn-in.db'));
    await engine.createExperiment({ ...experiment, name: 'burn-in', minimumSampleSize: 500 });
    for (let i = 0; i < 200; i++) {
      const unit = `u${i}`;
      const { variant } = await engine.assign('burn-in', unit);
      await engine.recordExposure('burn-in', unit);
      if (variant === 'treatment' && i % 2 === 0) await engine.recordOutcome('burn-in', unit, 'converted', 1);
    }
    const early = await engine.analyze('burn-in');
    expect(early.primary.comparisons[0]!.sequentialPValue).toBeLessThan(0.05);
    expect(early.decision.action).toBe('continue');
    const db = new Database(join(root, 'burn-in.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM sequential_p_values').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('a file written by schema version 1', () => {
  it('is migrated in place: its experiments, exposures and outcomes are kept and analysis works', async () => {
    const file = join(root, 'v1.db');
    // The version 1 schema exactly as @cairn/abtest-local 0.1.0 wrote it (frozen here on purpose).
    const old = new Database(file);
    old.exec(`
      CREATE TABLE experiments (
        name TEXT PRIMARY KEY, definition TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'concluded')),
        created_at TEXT NOT NULL, concluded_at TEXT, winner TEXT, reason TEXT
      );
      CREATE TABLE exposures (
        experiment TEXT NOT NULL, unit_id TEXT NOT NULL, variant TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (experiment, unit_id)
      ) WITHOUT ROWID;
      CREATE TABLE outcomes (
        seq INTEGER PRIMARY KEY, experiment TEXT NOT NULL, unit_id TEXT NOT NULL, metric TEXT NOT NULL,
        value REAL NOT NULL, at TEXT NOT NULL, event_id TEXT, UNIQUE (experiment, event_id)
      );
      CREATE INDEX outcomes_metric ON outcomes (experiment, metric, unit_id, value);
    `);
    old.pragma('application_id = 1128358516'); // 0x43416274, "CAbt"
    old.pragma('user_version = 1');
    const stored = JSON.stringify(normalizeDefinition(experiment));
    old
      .prepare("INSERT INTO experiments (name, definition, status, created_at) VALUES (?, ?, 'running', ?)")
      .run(experiment.name, stored, '2026-01-01T00:00:00.000Z');
    const insertExposure = old.prepare('INSERT INTO exposures VALUES (?, ?, ?, ?)');
    const insertOutcome = old.prepare(
      'INSERT INTO outcomes (experiment, unit_id, metric, value, at) VALUES (?, ?, ?, 1, ?)',
    );
    for (let i = 0; i < 400; i++) {
      const variant = assignVariant(experiment.name, `u${i}`, [0.5, 0.5]) === 0 ? 'control' : 'treatment';
      insertExposure.run(experiment.name, `u${i}`, variant, '2026-01-01T00:00:00.000Z');
      if (i % 5 === 0) insertOutcome.run(experiment.name, `u${i}`, 'converted', '2026-01-01T00:00:00.000Z');
    }
    old.close();

    const engine = await open(file);
    expect((await engine.getExperiment(experiment.name))?.status).toBe('running');
    const analysis = await engine.analyze(experiment.name);
    expect(Object.values(analysis.exposures).reduce((a, b) => a + b, 0)).toBe(400);
    expect(analysis.primary.variants.reduce((s, v) => s + v.mean * v.units, 0)).toBeCloseTo(80, 9);
    await engine.close();
    engines.length = 0;
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(latestVersion);
    expect(after.prepare('SELECT COUNT(*) AS n FROM sequential_p_values').get()).toEqual({ n: 1 });
    expect(after.prepare('SELECT COUNT(*) AS n FROM sequential_p_history').get()).toEqual({ n: 1 });
    after.close();
  });
});

describe('the sequential p-value over time', () => {
  it('keeps one point per counted look, with its units, never rising; an unchanged look adds none', async () => {
    const file = join(root, 'history.db');
    let engine = await open(file);
    await engine.createExperiment({ ...experiment, minimumSampleSize: 50 });
    const looks: Array<{ p: number; units: number }> = [];
    for (let batch = 0; batch < 4; batch++) {
      await feed(engine, batch * 150, (batch + 1) * 150, (variant, i) =>
        variant === 'treatment' ? i % 4 === 0 : i % 9 === 0,
      );
      const analysis = await engine.analyze(experiment.name);
      const units = Object.values(analysis.exposures).reduce((a, b) => a + b, 0);
      looks.push({ p: analysis.primary.comparisons[0]!.sequentialPValue, units });
    }
    // Looking again at the same data changes nothing, also after reopening the file.
    await engine.analyze(experiment.name);
    await engine.close();
    engines.length = 0;
    engine = await open(file);
    await engine.analyze(experiment.name);
    const history = await engine.sequentialHistory(experiment.name);
    expect(history.map((h) => [h.metric, h.variant])).toEqual(looks.map(() => ['converted', 'treatment']));
    expect(history.map((h) => ({ p: h.pValue, units: h.units }))).toEqual(looks);
    expect(history.map((h) => h.units)).toEqual([150, 300, 450, 600]);
    for (let i = 1; i < history.length; i++) {
      expect(history[i]!.pValue).toBeLessThanOrEqual(history[i - 1]!.pValue);
      expect(Date.parse(history[i]!.at)).toBeGreaterThanOrEqual(Date.parse(history[i - 1]!.at));
    }
    await expect(engine.sequentialHistory('nope')).rejects.toMatchObject({
      code: 'CAIRN_EXPERIMENT_NOT_FOUND',
    });
  });

  it('opens a version 2 file with its running minimum kept, and starts the history from there', async () => {
    const file = join(root, 'v2.db');
    // A file as version 2 left it: create it with this engine, then take the history table away.
    let engine = await open(file);
    await engine.createExperiment({ ...experiment, minimumSampleSize: 50 });
    await feed(engine, 0, 300, (variant, i) => (variant === 'treatment' ? i % 3 === 0 : i % 10 === 0));
    const before = await engine.analyze(experiment.name);
    await engine.close();
    engines.length = 0;
    const downgrade = new Database(file);
    downgrade.exec('DROP TABLE sequential_p_history');
    downgrade.pragma('user_version = 2');
    const kept = downgrade.prepare('SELECT p_value FROM sequential_p_values').all();
    downgrade.close();
    expect(kept).toEqual([{ p_value: before.primary.comparisons[0]!.sequentialPValue }]);

    engine = await open(file);
    expect(await engine.sequentialHistory(experiment.name)).toEqual([]);
    const after = await engine.analyze(experiment.name);
    expect(after.exposures).toEqual(before.exposures);
    expect(after.primary.comparisons[0]!.sequentialPValue).toBe(
      before.primary.comparisons[0]!.sequentialPValue,
    );
    expect((await engine.sequentialHistory(experiment.name)).map((h) => h.units)).toEqual([300]);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(latestVersion);
    db.close();
  });
});

describe('decisions of a simulated A/A canary, looked at every 100 units', () => {
  it('ships no more often than alpha allows on a 90/10 split with sd 1 vs 2', () => {
    const canary = normalizeDefinition({
      name: 'canary',
      variants: [
        { name: 'control', weight: 0.9 },
        { name: 'canary', weight: 0.1 },
      ],
      primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
      minimumSampleSize: 10,
    });
    const random = mulberry32(13);
    const runs = 300;
    let ships = 0;
    for (let run = 0; run < runs; run++) {
      const arms: Record<string, VariantAggregate> = {
        control: { variant: 'control', units: 0, sum: 0, sumOfSquares: 0 },
        canary: { variant: 'canary', units: 0, sum: 0, sumOfSquares: 0 },
      };
      const previous = new Map<string, number>();
      for (let look = 0; look < 50; look++) {
        for (const [variant, units, sd] of [
          ['control', 90, 1],
          ['canary', 10, 2],
        ] as const) {
          for (let i = 0; i < units; i++) {
            const value = 10 + sd * normalSample(random);
            arms[variant]!.units += 1;
            arms[variant]!.sum += value;
            arms[variant]!.sumOfSquares += value * value;
          }
        }
        const aggregates = Object.values(arms).map((a) => ({ ...a }));
        const analysis = analyzeAggregates(
          canary,
          { control: arms.control!.units, canary: arms.canary!.units },
          new Map([['revenue', aggregates]]),
          '2026-01-01T00:00:00.000Z',
          previous,
        );
        const p = analysis.primary.comparisons[0]!.sequentialPValue;
        if (Number.isFinite(p)) previous.set(comparisonKey('revenue', 'canary'), p);
        if (analysis.decision.action === 'ship') {
          ships += 1;
          break;
        }
      }
    }
    // alpha·runs plus three binomial standard deviations: 15 + 11.3. The pooled variance shipped 47 of 300.
    expect(ships).toBeLessThanOrEqual(Math.floor(runs * 0.05 + 3 * Math.sqrt(runs * 0.05 * 0.95)));
  });
});
