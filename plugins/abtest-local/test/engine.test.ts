import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AbTestEngine, CairnError, type ExperimentDefinition } from '@cairn/core';
import { assignVariant, mulberry32 } from '@cairn/stats';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import defaultExport, { localAbtest } from '../src/index';

let root: string;
let files = 0;
const engines: AbTestEngine[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-abtest-local-'));
});
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const newFile = () => join(root, `abtest-${++files}.db`);
async function open(file: string): Promise<AbTestEngine> {
  const engine = await localAbtest({ file }).create({ stateDir: root });
  engines.push(engine);
  return engine;
}

async function caught(promise: unknown): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    expect(CairnError.is(error), String(error)).toBe(true);
    return error as CairnError;
  }
  throw new Error('expected a CairnError');
}

const definition: ExperimentDefinition = {
  name: 'shared',
  variants: [
    { name: 'control', weight: 1 },
    { name: 'treatment', weight: 1 },
  ],
  primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
};

describe('options', () => {
  it('returns an abtest descriptor named local, as the default export too', () => {
    const descriptor = localAbtest();
    expect(descriptor).toMatchObject({ kind: 'abtest', name: 'local', options: {} });
    expect(defaultExport).toBe(localAbtest);
    expect(localAbtest({ file: ':memory:' }).options).toEqual({ file: ':memory:' });
    expect(localAbtest({ file: 'rel/ab.db' }).options).toEqual({ file: resolve('rel/ab.db') });
  });

  it('refuses bad options when the factory is called, naming the option', () => {
    const bad: Array<[unknown, string]> = [
      [{ file: '' }, 'file'],
      [{ file: 42 }, 'file'],
      [{ file: 'a\0b' }, 'file'],
      [{ path: 'x.db' }, 'path'],
      ['x.db', 'options'],
      [null, 'options'],
    ];
    for (const [options, option] of bad) {
      let error: unknown;
      try {
        localAbtest(options as never);
      } catch (e) {
        error = e;
      }
      expect(CairnError.is(error), JSON.stringify(options)).toBe(true);
      expect((error as CairnError).code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect((error as CairnError).message).toContain(`"${option}"`);
    }
  });

  it('defaults the file to <stateDir>/abtest.db', async () => {
    const stateDir = join(root, 'state-default');
    const engine = await localAbtest().create({ stateDir });
    engines.push(engine);
    await engine.createExperiment(definition);
    const db = new Database(join(stateDir, 'abtest.db'), { readonly: true });
    expect(db.prepare('SELECT name FROM experiments').all()).toEqual([{ name: 'shared' }]);
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });
});

describe('the database file', () => {
  it('refuses a file that is not a SQLite database, naming it, and leaves it as it was', async () => {
    const file = newFile();
    const bytes = Buffer.from('this is a CSV, not a database\n'.repeat(200));
    writeFileSync(file, bytes);
    const error = await caught(localAbtest({ file }).create({ stateDir: root }));
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toContain(file);
    expect(readFileSync(file)).toEqual(bytes);
  });

  it("refuses another program's SQLite database and adds no table to it", async () => {
    const file = newFile();
    const foreign = new Database(file);
    foreign.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)');
    foreign.close();
    const error = await caught(localAbtest({ file }).create({ stateDir: root }));
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toContain(file);
    expect(error.message).toContain('users');
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([
      { name: 'users' },
    ]);
    check.close();

    const marked = newFile();
    const other = new Database(marked);
    other.pragma('application_id = 1234');
    other.close();
    expect((await caught(localAbtest({ file: marked }).create({ stateDir: root }))).message).toContain(
      '1234',
    );
  });

  it('refuses a file written by a newer schema', async () => {
    const file = newFile();
    await (await localAbtest({ file }).create({ stateDir: root })).close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    const error = await caught(open(file));
    expect(error.code).toBe('CAIRN_METADATA_FAILED');
    expect(error.message).toContain('99');
  });

  it('a closed engine refuses calls', async () => {
    const engine = await open(':memory:');
    await engine.close();
    expect((await caught(engine.listExperiments())).code).toBe('CAIRN_METADATA_FAILED');
  });
});

describe('two engines on one file', () => {
  it("see each other's experiments, exposures, outcomes and conclusion", async () => {
    const file = newFile();
    const [a, b] = [await open(file), await open(file)];
    await a.createExperiment(definition);
    expect(await b.createExperiment(definition)).toEqual(await a.getExperiment('shared'));
    const units = Array.from({ length: 200 }, (_, i) => `u${i}`);
    // Both log the same units, interleaved: still one exposure per unit.
    await Promise.all(units.map((u, i) => (i % 2 ? a : b).recordExposure('shared', u)));
    await Promise.all(units.map((u, i) => (i % 2 ? b : a).recordExposure('shared', u)));
    for (const [i, u] of units.entries()) {
      await (i % 2 ? a : b).recordOutcome('shared', u, 'revenue', 3, { eventId: `order-${u}` });
      await (i % 2 ? b : a).recordOutcome('shared', u, 'revenue', 3, { eventId: `order-${u}` });
    }
    const fromA = await a.analyze('shared');
    const fromB = await b.analyze('shared');
    expect(fromA.exposures.control! + fromA.exposures.treatment!).toBe(200);
    expect(fromA.primary.variants.every((v) => v.mean === 3)).toBe(true);
    const { analyzedAt: _a, ...restA } = fromA;
    const { analyzedAt: _b, ...restB } = fromB;
    expect(restB).toEqual(restA);

    await a.conclude('shared', { winner: 'treatment', reason: 'test' });
    expect(await b.assign('shared', 'u1')).toMatchObject({ variant: 'treatment', inExperiment: false });
    expect((await caught(b.recordExposure('shared', 'u1'))).code).toBe('CAIRN_EXPERIMENT_INVALID');
  });
});

describe('scale', () => {
  it('analyzes 100,000 exposures with outcomes correctly', async () => {
    const engine = await open(newFile());
    const name = 'big';
    await engine.createExperiment({
      ...definition,
      name,
      primaryMetric: { name: 'converted', type: 'binomial', goal: 'increase' },
      guardrailMetrics: [{ name: 'revenue', type: 'continuous', goal: 'increase' }],
    });
    const random = mulberry32(99);
    const expected = {
      control: { units: 0, conversions: 0, revenue: 0 },
      treatment: { units: 0, conversions: 0, revenue: 0 },
    };
    for (let i = 0; i < 100_000; i++) {
      const unit = `user-${i}`;
      const variant = assignVariant(name, unit, [1, 1]) === 0 ? 'control' : 'treatment';
      await engine.recordExposure(name, unit);
      const tally = expected[variant];
      tally.units += 1;
      if (random() < (variant === 'control' ? 0.1 : 0.11)) {
        await engine.recordOutcome(name, unit, 'converted', 1);
        await engine.recordOutcome(name, unit, 'revenue', 20);
        tally.conversions += 1;
        tally.revenue += 20;
      }
    }
    const analysis = await engine.analyze(name);
    for (const variant of ['control', 'treatment'] as const) {
      const tally = expected[variant];
      expect(analysis.exposures[variant]).toBe(tally.units);
      const converted = analysis.primary.variants.find((v) => v.variant === variant)!;
      expect(converted.units).toBe(tally.units);
      expect(converted.mean).toBeCloseTo(tally.conversions / tally.units, 12);
      const revenue = analysis.guardrails[0]!.variants.find((v) => v.variant === variant)!;
      expect(revenue.mean).toBeCloseTo(tally.revenue / tally.units, 9);
    }
    expect(analysis.sampleRatio.mismatch).toBe(false);
    // 300,000 awaited writes: on a loaded 2-core machine they took 43 s, past vitest's 30 s default.
  });
});
