/**
 * The conformance suite for A/B testing engines. Every `AbTestEngine` — the
 * embedded one, a platform team's own over their experimentation service —
 * calls `testAbTest` in its tests and must pass every case.
 *
 * The suite simulates users with a seeded generator (`mulberry32`), so each
 * run sends the same events; it tallies what it sent and checks the engine's
 * numbers against its own. Semantics the suite pins down where the
 * contract's words leave room:
 * - `sampleRatio.expected` holds expected unit counts (exposed units × the
 *   variant's share of the weights), not shares.
 * - The comparisons' fixed-horizon `pValue` and `difference` are those of
 *   `twoProportionZTest` (binomial) and `welchTTest` (continuous) from
 *   `@cairn/stats` over the per-unit values.
 * - A guardrail that is worse for the only better variant makes the decision
 *   `keep-control`.
 * - An `at` option that is not a time is refused with CAIRN_EXPERIMENT_INVALID.
 * - Concluding again with the same winner is accepted.
 *
 * @example
 * ```ts
 * // test/conformance.test.ts
 * import { testAbTest } from '@cairn/testkit';
 * import { localAbtest } from '../src/index';
 * testAbTest({ create: () => localAbtest() });
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AbTestDescriptor,
  type AbTestEngine,
  CairnError,
  type ExperimentAnalysis,
  type ExperimentDefinition,
  type MetricDefinition,
} from '@cairn/core';
import {
  assignVariant,
  mulberry32,
  normalSample,
  summaryFromSums,
  twoProportionZTest,
  welchTTest,
} from '@cairn/stats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

export interface TestAbTestOptions {
  /** Suite title. @default 'abtest' */
  name?: string;
  /** A fresh engine descriptor (the factory's result); the suite calls `create({ stateDir })` on it. */
  create(): AbTestDescriptor | Promise<AbTestDescriptor>;
  /** Experiments and events survive close()/create() with the same stateDir. @default true */
  persistent?: boolean;
}

/** Per-unit value sums of one metric in one variant, as the suite sent them. */
interface Tally {
  units: number;
  sum: number;
  sumOfSquares: number;
}

interface Simulated {
  exposures: Record<string, number>;
  /** metric → variant → tally over exposed units. */
  tallies: Record<string, Record<string, Tally>>;
}

/** The outcome values one unit sends on one metric (empty: none). */
type Draw = (variant: string, random: () => number) => number[];

/** Conversion at `rates[variant]`; some converters send 1 twice or after a 0, some others send a 0. */
const converts =
  (rates: Record<string, number>): Draw =>
  (variant, random) => {
    const converted = random() < rates[variant]!;
    const noise = random();
    if (converted) return noise < 0.15 ? [1, 1] : noise < 0.3 ? [0, 1] : [1];
    return noise < 0.3 ? [0] : [];
  };

/** A normal value per unit, sometimes sent as two outcomes that add up. */
const normal =
  (means: Record<string, number>, sd: number): Draw =>
  (variant, random) => {
    const value = means[variant]! + sd * normalSample(random);
    return random() < 0.25 ? [value * 0.4, value * 0.6] : [value];
  };

async function expectCode(promise: unknown, code: string, what = ''): Promise<CairnError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a CairnError ${code} ${what}`).toBeDefined();
  expect(CairnError.is(caught), `expected a CairnError ${what}, got ${String(caught)}`).toBe(true);
  expect((caught as CairnError).code, `${what}: ${(caught as Error).message}`).toBe(code);
  return caught as CairnError;
}

const twoArms = (name: string, patch: Partial<ExperimentDefinition> = {}): ExperimentDefinition => ({
  name,
  variants: [
    { name: 'control', weight: 50 },
    { name: 'treatment', weight: 50 },
  ],
  primaryMetric: { name: 'converted', type: 'binomial', goal: 'increase' },
  ...patch,
});

/**
 * Send `units` simulated users through assign → recordExposure →
 * recordOutcome, and tally what was sent for exposed units.
 */
async function simulate(
  engine: AbTestEngine,
  definition: ExperimentDefinition,
  options: {
    units: number;
    seed: number;
    draws: Record<string, Draw>;
    prefix?: string;
    /** Skip the exposure (and outcomes) of some units: a logging bug. */
    dropExposure?: (variant: string, random: () => number) => boolean;
  },
): Promise<Simulated> {
  const random = mulberry32(options.seed);
  const metrics = [definition.primaryMetric, ...(definition.guardrailMetrics ?? [])];
  const exposures: Record<string, number> = Object.fromEntries(definition.variants.map((v) => [v.name, 0]));
  const tallies: Simulated['tallies'] = Object.fromEntries(
    metrics.map((m) => [
      m.name,
      Object.fromEntries(definition.variants.map((v) => [v.name, { units: 0, sum: 0, sumOfSquares: 0 }])),
    ]),
  );
  for (let i = 0; i < options.units; i++) {
    const unitId = `${options.prefix ?? 'u'}-${i}`;
    const { variant, inExperiment } = await engine.assign(definition.name, unitId);
    if (!inExperiment) continue;
    if (options.dropExposure?.(variant, random)) continue;
    await engine.recordExposure(definition.name, unitId);
    exposures[variant]! += 1;
    for (const metric of metrics) {
      const values = options.draws[metric.name]!(variant, random);
      let k = 0;
      for (const value of values) {
        await engine.recordOutcome(definition.name, unitId, metric.name, value, {
          eventId: `${unitId}/${metric.name}/${k++}`,
        });
      }
      const perUnit =
        metric.type === 'binomial'
          ? values.some((v) => v !== 0)
            ? 1
            : 0
          : values.reduce((a, b) => a + b, 0);
      const tally = tallies[metric.name]![variant]!;
      tally.units += 1;
      tally.sum += perUnit;
      tally.sumOfSquares += perUnit * perUnit;
    }
  }
  return { exposures, tallies };
}

const close = (actual: number, expected: number, what: string) => {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
};

/** The engine's per-variant numbers equal what the suite sent. */
function expectOwnNumbers(
  analysis: ExperimentAnalysis,
  definition: ExperimentDefinition,
  sent: Simulated,
): void {
  expect(analysis.exposures).toEqual(sent.exposures);
  const results = [analysis.primary, ...analysis.guardrails];
  const metrics = [definition.primaryMetric, ...(definition.guardrailMetrics ?? [])];
  expect(results.map((r) => r.metric)).toEqual(metrics.map((m) => m.name));
  for (const result of results) {
    expect(result.variants.map((v) => v.variant)).toEqual(definition.variants.map((v) => v.name));
    for (const summary of result.variants) {
      const tally = sent.tallies[result.metric]![summary.variant]!;
      const expected = summaryFromSums(tally.units, tally.sum, tally.sumOfSquares);
      expect(summary.units, `${result.metric}/${summary.variant} units`).toBe(tally.units);
      close(summary.mean, expected.mean, `${result.metric}/${summary.variant} mean`);
      close(summary.variance, expected.variance, `${result.metric}/${summary.variant} variance`);
    }
  }
}

/** The fixed-horizon test the contract names, on the suite's own tallies. */
function expectedTest(
  metric: MetricDefinition,
  sent: Simulated,
  control: string,
  variant: string,
  alpha = 0.05,
) {
  const c = sent.tallies[metric.name]![control]!;
  const t = sent.tallies[metric.name]![variant]!;
  return metric.type === 'binomial'
    ? twoProportionZTest(
        { successes: c.sum, trials: c.units },
        { successes: t.sum, trials: t.units },
        { alpha },
      )
    : welchTTest(
        summaryFromSums(c.units, c.sum, c.sumOfSquares),
        summaryFromSums(t.units, t.sum, t.sumOfSquares),
        {
          alpha,
        },
      );
}

const withoutTime = ({ analyzedAt: _, ...rest }: ExperimentAnalysis) => rest;

export function testAbTest(options: TestAbTestOptions): void {
  const persistent = options.persistent ?? true;

  describe(`abtest conformance: ${options.name ?? 'abtest'}`, () => {
    let root: string;
    let dirs = 0;
    const open: AbTestEngine[] = [];

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'cairn-testkit-abtest-'));
    });
    afterEach(async () => {
      for (const engine of open.splice(0)) await engine.close();
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    const newStateDir = () => join(root, `state-${++dirs}`);
    async function engineAt(stateDir: string): Promise<AbTestEngine> {
      const descriptor = await options.create();
      expect(descriptor.kind).toBe('abtest');
      expect(typeof descriptor.name).toBe('string');
      const engine = await descriptor.create({ stateDir });
      open.push(engine);
      return engine;
    }
    const fresh = () => engineAt(newStateDir());
    async function closeEngine(engine: AbTestEngine): Promise<void> {
      open.splice(open.indexOf(engine), 1);
      await engine.close();
    }

    // --- definitions --------------------------------------------------------

    it('createExperiment stores a running experiment, control defaulting to the first variant; the same definition again is accepted', async () => {
      const engine = await fresh();
      const definition = twoArms('checkout-button', {
        variants: [
          { name: 'blue', weight: 1, payload: { color: '#00f' } },
          { name: 'green', weight: 1, payload: { color: '#0f0' } },
        ],
      });
      const created = await engine.createExperiment(definition);
      expect(created).toMatchObject({ name: 'checkout-button', control: 'blue', status: 'running' });
      expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);
      expect(created.winner).toBeUndefined();
      const again = await engine.createExperiment(structuredClone(definition));
      expect(again).toEqual(created);
      expect(await engine.getExperiment('checkout-button')).toEqual(created);
      expect(await engine.listExperiments()).toHaveLength(1);
      expect(await engine.getExperiment('nope')).toBeUndefined();

      const explicit = await engine.createExperiment(twoArms('explicit-control', { control: 'treatment' }));
      expect(explicit.control).toBe('treatment');
    });

    it('createExperiment refuses a different definition under an existing name and keeps the stored one', async () => {
      const engine = await fresh();
      const created = await engine.createExperiment(twoArms('ranker'));
      const changed = [
        twoArms('ranker', {
          variants: [
            { name: 'control', weight: 50 },
            { name: 'treatment', weight: 60 },
          ],
        }),
        twoArms('ranker', { primaryMetric: { name: 'converted', type: 'binomial', goal: 'decrease' } }),
        twoArms('ranker', { coverage: 0.5 }),
        twoArms('ranker', { control: 'treatment' }),
      ];
      for (const definition of changed) {
        await expectCode(
          engine.createExperiment(definition),
          'CAIRN_EXPERIMENT_INVALID',
          JSON.stringify(definition),
        );
      }
      expect(await engine.getExperiment('ranker')).toEqual(created);
    });

    it('createExperiment refuses malformed definitions and creates nothing', async () => {
      const engine = await fresh();
      const variant = (name: string, weight: number) => ({ name, weight });
      const bad: Array<[string, ExperimentDefinition]> = [
        ['one variant', twoArms('bad-one', { variants: [variant('control', 1)] })],
        ['no variants', twoArms('bad-none', { variants: [] })],
        ['duplicate variant names', twoArms('bad-dup', { variants: [variant('a', 1), variant('a', 1)] })],
        [
          'a variant name with capitals',
          twoArms('bad-vname', { variants: [variant('A', 1), variant('b', 1)] }),
        ],
        [
          'a variant name with a space',
          twoArms('bad-vspace', { variants: [variant('a b', 1), variant('b', 1)] }),
        ],
        ['weight 0', twoArms('bad-w0', { variants: [variant('a', 0), variant('b', 1)] })],
        ['negative weight', twoArms('bad-wneg', { variants: [variant('a', -1), variant('b', 1)] })],
        ['NaN weight', twoArms('bad-wnan', { variants: [variant('a', Number.NaN), variant('b', 1)] })],
        ['coverage 0', twoArms('bad-c0', { coverage: 0 })],
        ['coverage 1.5', twoArms('bad-c15', { coverage: 1.5 })],
        ['control not a variant', twoArms('bad-control', { control: 'nope' })],
        ['alpha 0', twoArms('bad-a0', { alpha: 0 })],
        ['alpha 1', twoArms('bad-a1', { alpha: 1 })],
        ['alpha 1.5', twoArms('bad-a15', { alpha: 1.5 })],
        ['hashVersion 3', twoArms('bad-hash', { hashVersion: 3 as 2 })],
        ['minimumSampleSize 0', twoArms('bad-min0', { minimumSampleSize: 0 })],
        ['minimumSampleSize 2.5', twoArms('bad-minfrac', { minimumSampleSize: 2.5 })],
        [
          'a guardrail named like the primary metric',
          twoArms('bad-metricdup', {
            guardrailMetrics: [{ name: 'converted', type: 'binomial', goal: 'decrease' }],
          }),
        ],
        [
          'unknown metric type',
          twoArms('bad-mtype', {
            primaryMetric: { name: 'x', type: 'ratio' as 'binomial', goal: 'increase' },
          }),
        ],
        [
          'unknown goal',
          twoArms('bad-goal', { primaryMetric: { name: 'x', type: 'binomial', goal: 'up' as 'increase' } }),
        ],
        [
          'bad metric name',
          twoArms('bad-mname', {
            primaryMetric: { name: 'Revenue $', type: 'continuous', goal: 'increase' },
          }),
        ],
        [
          'no primary metric',
          { ...twoArms('bad-noprimary'), primaryMetric: undefined as unknown as MetricDefinition },
        ],
      ];
      for (const [what, definition] of bad) {
        await expectCode(engine.createExperiment(definition), 'CAIRN_EXPERIMENT_INVALID', what);
        expect(await engine.getExperiment(definition.name), what).toBeUndefined();
      }
      for (const name of ['', 'Upper', '9lives', 'has space', 'a/b', 'x'.repeat(101)]) {
        await expectCode(engine.createExperiment(twoArms(name)), 'CAIRN_EXPERIMENT_INVALID', `name ${name}`);
      }
      expect(await engine.listExperiments()).toEqual([]);
    });

    // --- assignment -------------------------------------------------------

    it('assign equals assignVariant from @cairn/stats (GrowthBook-compatible) for 5,000 ids, in two engines with different stateDirs', async () => {
      const definitions = [
        twoArms('hash-v2', {
          variants: [
            { name: 'control', weight: 2 },
            { name: 'b', weight: 1 },
            { name: 'c', weight: 1 },
          ],
          coverage: 0.8,
          seed: 'seed-for-v2',
        }),
        twoArms('hash-v1', { hashVersion: 1 }),
      ];
      const engines = [await fresh(), await fresh()];
      for (const engine of engines) for (const d of definitions) await engine.createExperiment(d);
      for (const d of definitions) {
        const weights = d.variants.map((v) => v.weight);
        let outside = 0;
        for (let i = 0; i < 5000; i++) {
          const unitId = `user-${i}`;
          const index = assignVariant(d.seed ?? d.name, unitId, weights, {
            coverage: d.coverage ?? 1,
            hashVersion: d.hashVersion ?? 2,
          });
          if (index < 0) outside += 1;
          const expected = {
            variant: index < 0 ? 'control' : d.variants[index]!.name,
            inExperiment: index >= 0,
          };
          for (const engine of engines) {
            const got = await engine.assign(d.name, unitId);
            expect(got, `${d.name} ${unitId}`).toMatchObject({ experiment: d.name, unitId, ...expected });
          }
        }
        if ((d.coverage ?? 1) < 1) expect(outside).toBeGreaterThan(800);
      }
    });

    it('assign splits 20,000 ids within ±2% of 70/30 weights and hands back the payload', async () => {
      const engine = await fresh();
      await engine.createExperiment(
        twoArms('split', {
          variants: [
            { name: 'control', weight: 70, payload: { model: 'v1' } },
            { name: 'treatment', weight: 30, payload: { model: 'v2' } },
          ],
        }),
      );
      const counts: Record<string, number> = { control: 0, treatment: 0 };
      for (let i = 0; i < 20_000; i++) {
        const a = await engine.assign('split', `visitor-${i}`);
        expect(a.inExperiment).toBe(true);
        expect(a.payload).toEqual({ model: a.variant === 'control' ? 'v1' : 'v2' });
        counts[a.variant]! += 1;
      }
      expect(Math.abs(counts.control! / 20_000 - 0.7)).toBeLessThan(0.02);
      expect(Math.abs(counts.treatment! / 20_000 - 0.3)).toBeLessThan(0.02);
      // Pure: asking again changes nothing and logs nothing.
      expect(await engine.assign('split', 'visitor-1')).toEqual(await engine.assign('split', 'visitor-1'));
      expect((await engine.analyze('split')).exposures).toEqual({ control: 0, treatment: 0 });
    });

    it('units outside coverage get the control with inExperiment false, and their exposure is refused', async () => {
      const engine = await fresh();
      await engine.createExperiment(
        twoArms('half', {
          coverage: 0.5,
          variants: [
            { name: 'control', weight: 1, payload: 'old' },
            { name: 'treatment', weight: 1, payload: 'new' },
          ],
        }),
      );
      let outside = 0;
      for (let i = 0; i < 400; i++) {
        const a = await engine.assign('half', `u${i}`);
        const index = assignVariant('half', `u${i}`, [1, 1], { coverage: 0.5 });
        expect(a.inExperiment).toBe(index >= 0);
        if (index >= 0) continue;
        outside += 1;
        expect(a).toMatchObject({ variant: 'control', payload: 'old', inExperiment: false });
        if (outside <= 3) {
          await expectCode(
            engine.recordExposure('half', `u${i}`),
            'CAIRN_EXPERIMENT_INVALID',
            'outside coverage',
          );
        }
      }
      expect(outside).toBeGreaterThan(150);
      expect(outside).toBeLessThan(250);
      expect((await engine.analyze('half')).exposures).toEqual({ control: 0, treatment: 0 });
    });

    // --- events -----------------------------------------------------------

    it('only the first exposure counts and an outcome with a repeated eventId is counted once', async () => {
      const engine = await fresh();
      const definition = twoArms('events', {
        primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
      });
      await engine.createExperiment(definition);
      const unit = 'alice';
      const { variant } = await engine.assign('events', unit);
      for (let i = 0; i < 3; i++)
        await engine.recordExposure('events', unit, { at: new Date(Date.UTC(2026, 0, 1 + i)) });
      await engine.recordOutcome('events', unit, 'revenue', 5, { eventId: 'order-1' });
      await engine.recordOutcome('events', unit, 'revenue', 5, { eventId: 'order-1' });
      await engine.recordOutcome('events', unit, 'revenue', 2, {
        eventId: 'order-2',
        at: '2026-01-05T00:00:00Z',
      });
      const analysis = await engine.analyze('events');
      expect(analysis.exposures[variant]).toBe(1);
      expect(Object.values(analysis.exposures).reduce((a, b) => a + b, 0)).toBe(1);
      const summary = analysis.primary.variants.find((v) => v.variant === variant)!;
      expect(summary).toMatchObject({ units: 1, mean: 7 });
    });

    it('outcomes of units never exposed are kept out of the analysis', async () => {
      const engine = await fresh();
      const definition = twoArms('unexposed', {
        primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
      });
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 200,
        seed: 7,
        draws: { revenue: normal({ control: 10, treatment: 10 }, 3) },
      });
      for (let i = 0; i < 50; i++) await engine.recordOutcome('unexposed', `ghost-${i}`, 'revenue', 1000);
      expectOwnNumbers(await engine.analyze('unexposed'), definition, sent);
    });

    it('malformed events are refused with CAIRN_EXPERIMENT_INVALID and change nothing', async () => {
      const engine = await fresh();
      const definition = twoArms('strict', {
        guardrailMetrics: [{ name: 'revenue', type: 'continuous', goal: 'increase' }],
      });
      await engine.createExperiment(definition);
      await engine.recordExposure('strict', 'bob');
      const before = withoutTime(await engine.analyze('strict'));
      const bad: Array<[string, () => Promise<unknown>]> = [
        ['binomial value 2', () => engine.recordOutcome('strict', 'bob', 'converted', 2)],
        ['binomial value 0.5', () => engine.recordOutcome('strict', 'bob', 'converted', 0.5)],
        ['binomial NaN', () => engine.recordOutcome('strict', 'bob', 'converted', Number.NaN)],
        ['continuous NaN', () => engine.recordOutcome('strict', 'bob', 'revenue', Number.NaN)],
        [
          'continuous Infinity',
          () => engine.recordOutcome('strict', 'bob', 'revenue', Number.POSITIVE_INFINITY),
        ],
        ['unknown metric', () => engine.recordOutcome('strict', 'bob', 'clicks', 1)],
        ['empty unit id on outcome', () => engine.recordOutcome('strict', '', 'converted', 1)],
        ['empty unit id on exposure', () => engine.recordExposure('strict', '')],
        ['empty unit id on assign', () => engine.assign('strict', '')],
        [
          'an "at" that is not a time',
          () => engine.recordOutcome('strict', 'bob', 'converted', 1, { at: 'yesterday-ish' }),
        ],
      ];
      for (const [what, call] of bad) await expectCode(call(), 'CAIRN_EXPERIMENT_INVALID', what);
      expect(withoutTime(await engine.analyze('strict'))).toEqual(before);
    });

    it('an unknown experiment is CAIRN_EXPERIMENT_NOT_FOUND everywhere', async () => {
      const engine = await fresh();
      await engine.createExperiment(twoArms('known'));
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['assign', () => engine.assign('unknown', 'u1')],
        ['recordExposure', () => engine.recordExposure('unknown', 'u1')],
        ['recordOutcome', () => engine.recordOutcome('unknown', 'u1', 'converted', 1)],
        ['analyze', () => engine.analyze('unknown')],
        ['conclude', () => engine.conclude('unknown', { winner: 'control', reason: 'test' })],
      ];
      for (const [what, call] of calls) await expectCode(call(), 'CAIRN_EXPERIMENT_NOT_FOUND', what);
      expect(await engine.getExperiment('unknown')).toBeUndefined();
    });

    // --- analysis -----------------------------------------------------------

    it('a clear lift (10% → 14% conversion, 6,000 units) ships the treatment, with the numbers the suite sent', async () => {
      const engine = await fresh();
      const definition = twoArms('lift', {
        guardrailMetrics: [{ name: 'latency', type: 'continuous', goal: 'decrease' }],
      });
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 5,
        draws: {
          converted: converts({ control: 0.1, treatment: 0.14 }),
          latency: normal({ control: 200, treatment: 200 }, 50),
        },
      });
      const rate = (v: string) => sent.tallies.converted![v]!.sum / sent.tallies.converted![v]!.units;
      // The seed gives a typical sample: the observed lift is close to the simulated one.
      expect(rate('treatment') - rate('control')).toBeGreaterThan(0.035);
      const analysis = await engine.analyze('lift');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis).toMatchObject({ experiment: 'lift', control: 'control' });
      expect(analysis.sampleRatio.mismatch).toBe(false);
      const total = sent.exposures.control! + sent.exposures.treatment!;
      close(analysis.sampleRatio.expected.control!, total / 2, 'expected control units');
      expect(analysis.primary.comparisons.map((c) => c.variant)).toEqual(['treatment']);
      const [comparison] = analysis.primary.comparisons;
      const reference = expectedTest(definition.primaryMetric, sent, 'control', 'treatment');
      close(comparison!.difference, reference.difference, 'difference');
      close(comparison!.pValue, reference.pValue, 'pValue');
      expect(comparison).toMatchObject({ variant: 'treatment', metric: 'converted', verdict: 'better' });
      expect(comparison!.probabilityToBeBetter).toBeGreaterThan(0.95);
      expect(comparison!.sequentialPValue).toBeLessThan(0.05);
      expect(comparison!.confidenceInterval[0]).toBeGreaterThan(0);
      expect(comparison!.expectedLoss).toBeGreaterThanOrEqual(0);
      expect(analysis.guardrails[0]!.comparisons[0]!.verdict).not.toBe('worse');
      expect(analysis.decision).toMatchObject({ action: 'ship', variant: 'treatment' });
      expect(analysis.decision.reason).toContain('treatment');
    });

    it('an A/A-like experiment with a small sample says continue', async () => {
      const engine = await fresh();
      const definition = twoArms('a-a');
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 600,
        seed: 3,
        draws: { converted: converts({ control: 0.1, treatment: 0.1 }) },
      });
      const analysis = await engine.analyze('a-a');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis.sampleRatio.mismatch).toBe(false);
      expect(analysis.primary.comparisons[0]!.verdict).toBe('inconclusive');
      expect(analysis.decision.action).toBe('continue');
    });

    it('minimumSampleSize holds back a decision the data would already support', async () => {
      const engine = await fresh();
      const draws = { converted: converts({ control: 0.1, treatment: 0.6 }) };
      const small = twoArms('patient', { minimumSampleSize: 1000 });
      await engine.createExperiment(small);
      await simulate(engine, small, { units: 400, seed: 11, draws });
      const held = await engine.analyze('patient');
      expect(held.primary.comparisons[0]!.verdict).toBe('better');
      expect(held.decision.action).toBe('continue');
      const eager = twoArms('eager', { minimumSampleSize: 50 });
      await engine.createExperiment(eager);
      await simulate(engine, eager, { units: 400, seed: 11, draws });
      expect((await engine.analyze('eager')).decision).toMatchObject({
        action: 'ship',
        variant: 'treatment',
      });
    });

    it('a clearly worse treatment keeps the control', async () => {
      const engine = await fresh();
      const definition = twoArms('worse');
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 5,
        draws: { converted: converts({ control: 0.14, treatment: 0.08 }) },
      });
      const analysis = await engine.analyze('worse');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis.primary.comparisons[0]!.verdict).toBe('worse');
      expect(analysis.primary.comparisons[0]!.probabilityToBeBetter).toBeLessThan(0.05);
      expect(analysis.decision.action).toBe('keep-control');
    });

    it('for a decrease goal lower is better', async () => {
      const engine = await fresh();
      const definition = twoArms('churn', {
        primaryMetric: { name: 'churned', type: 'binomial', goal: 'decrease' },
      });
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 9,
        draws: { churned: converts({ control: 0.14, treatment: 0.1 }) },
      });
      const analysis = await engine.analyze('churn');
      expectOwnNumbers(analysis, definition, sent);
      const [comparison] = analysis.primary.comparisons;
      expect(comparison!.difference).toBeLessThan(0);
      expect(comparison!.verdict).toBe('better');
      expect(comparison!.probabilityToBeBetter).toBeGreaterThan(0.95);
      expect(analysis.decision).toMatchObject({ action: 'ship', variant: 'treatment' });
    });

    it('a guardrail metric that gets significantly worse blocks ship', async () => {
      const engine = await fresh();
      const definition = twoArms('guarded', {
        guardrailMetrics: [
          { name: 'latency', type: 'continuous', goal: 'decrease' },
          { name: 'errors', type: 'binomial', goal: 'decrease' },
        ],
      });
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 42,
        draws: {
          converted: converts({ control: 0.1, treatment: 0.14 }),
          latency: normal({ control: 200, treatment: 230 }, 50),
          errors: converts({ control: 0.02, treatment: 0.02 }),
        },
      });
      const analysis = await engine.analyze('guarded');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis.primary.comparisons[0]!.verdict).toBe('better');
      expect(analysis.guardrails.map((g) => g.metric)).toEqual(['latency', 'errors']);
      expect(analysis.guardrails[0]!.comparisons[0]).toMatchObject({
        variant: 'treatment',
        verdict: 'worse',
      });
      expect(analysis.guardrails[0]!.comparisons[0]!.difference).toBeGreaterThan(0);
      expect(analysis.decision.action).toBe('keep-control');
    });

    it('a sample-ratio mismatch makes the decision invalid whatever the metric says', async () => {
      const engine = await fresh();
      const definition = twoArms('srm');
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 13,
        draws: { converted: converts({ control: 0.1, treatment: 0.2 }) },
        // A logging bug loses 15% of the treatment's exposures.
        dropExposure: (variant, random) => variant === 'treatment' && random() < 0.15,
      });
      const analysis = await engine.analyze('srm');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis.sampleRatio.mismatch).toBe(true);
      expect(analysis.sampleRatio.pValue).toBeLessThan(0.001);
      expect(analysis.primary.comparisons[0]!.verdict).toBe('better');
      expect(analysis.decision.action).toBe('invalid');
      expect(analysis.decision.variant).toBeUndefined();
    });

    it("a continuous metric (revenue) is compared with Welch's t test", async () => {
      const engine = await fresh();
      const definition = twoArms('revenue', {
        variants: [
          { name: 'control', weight: 1 },
          { name: 'discount', weight: 1 },
          { name: 'bundle', weight: 1 },
        ],
        primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
      });
      await engine.createExperiment(definition);
      const sent = await simulate(engine, definition, {
        units: 6000,
        seed: 21,
        draws: { revenue: normal({ control: 10, discount: 10, bundle: 11 }, 5) },
      });
      const analysis = await engine.analyze('revenue');
      expectOwnNumbers(analysis, definition, sent);
      expect(analysis.primary.comparisons.map((c) => c.variant)).toEqual(['discount', 'bundle']);
      for (const comparison of analysis.primary.comparisons) {
        const reference = expectedTest(definition.primaryMetric, sent, 'control', comparison.variant);
        close(comparison.difference, reference.difference, `${comparison.variant} difference`);
        close(comparison.pValue, reference.pValue, `${comparison.variant} pValue`);
        close(comparison.confidenceInterval[0], reference.confidenceInterval[0], `${comparison.variant} CI`);
      }
      const bundle = analysis.primary.comparisons[1]!;
      expect(bundle.verdict).toBe('better');
      expect(bundle.probabilityToBeBetter).toBeGreaterThan(0.95);
      expect(analysis.primary.comparisons[0]!.verdict).toBe('inconclusive');
      expect(analysis.decision).toMatchObject({ action: 'ship', variant: 'bundle' });
    });

    // --- lifecycle ----------------------------------------------------------

    it('conclude gives every unit the winner outside the experiment and stops exposures', async () => {
      const engine = await fresh();
      await engine.createExperiment(
        twoArms('finish', {
          variants: [
            { name: 'control', weight: 1, payload: 'old' },
            { name: 'treatment', weight: 1, payload: 'new' },
          ],
        }),
      );
      await engine.recordExposure('finish', 'u1');
      await expectCode(
        engine.conclude('finish', { winner: 'nope', reason: 'x' }),
        'CAIRN_EXPERIMENT_INVALID',
        'unknown winner',
      );
      expect((await engine.getExperiment('finish'))!.status).toBe('running');
      const concluded = await engine.conclude('finish', { winner: 'treatment', reason: 'better conversion' });
      expect(concluded).toMatchObject({
        status: 'concluded',
        winner: 'treatment',
        reason: 'better conversion',
      });
      expect(Number.isNaN(Date.parse(concluded.concludedAt!))).toBe(false);
      for (let i = 0; i < 200; i++) {
        expect(await engine.assign('finish', `u${i}`)).toMatchObject({
          variant: 'treatment',
          payload: 'new',
          inExperiment: false,
        });
      }
      await expectCode(
        engine.recordExposure('finish', 'u2'),
        'CAIRN_EXPERIMENT_INVALID',
        'exposure after conclude',
      );
      await expectCode(
        engine.conclude('finish', { winner: 'control', reason: 'changed my mind' }),
        'CAIRN_EXPERIMENT_INVALID',
        'another winner',
      );
      expect((await engine.conclude('finish', { winner: 'treatment', reason: 'again' })).winner).toBe(
        'treatment',
      );
      expect(await engine.getExperiment('finish')).toMatchObject({
        status: 'concluded',
        winner: 'treatment',
      });
    });

    it('listExperiments returns every experiment, newest first', async () => {
      const engine = await fresh();
      for (const name of ['first', 'second', 'third']) {
        await engine.createExperiment(twoArms(name));
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await engine.listExperiments()).map((e) => e.name)).toEqual(['third', 'second', 'first']);
    });

    if (persistent) {
      it('experiments, exposures, outcomes and the analysis survive close() and create() with the same stateDir', async () => {
        const stateDir = newStateDir();
        const first = await engineAt(stateDir);
        const definition = twoArms('durable', {
          variants: [
            { name: 'control', weight: 1, payload: { model: 'v1' } },
            { name: 'treatment', weight: 1, payload: { model: 'v2' } },
          ],
          guardrailMetrics: [{ name: 'revenue', type: 'continuous', goal: 'increase' }],
        });
        await first.createExperiment(definition);
        await first.createExperiment(twoArms('other'));
        await first.conclude('other', { winner: 'treatment', reason: 'done' });
        const sent = await simulate(first, definition, {
          units: 500,
          seed: 17,
          draws: {
            converted: converts({ control: 0.2, treatment: 0.3 }),
            revenue: normal({ control: 10, treatment: 10 }, 2),
          },
        });
        const analysis = await first.analyze('durable');
        const experiments = await first.listExperiments();
        await closeEngine(first);

        const second = await engineAt(stateDir);
        expect(await second.listExperiments()).toEqual(experiments);
        const again = await second.analyze('durable');
        expectOwnNumbers(again, definition, sent);
        expect(withoutTime(again)).toEqual(withoutTime(analysis));
        // Deduplication and first-exposure-wins hold across the restart.
        await second.recordExposure('durable', 'u-0');
        await second.recordOutcome('durable', 'u-0', 'revenue', 1000, { eventId: 'u-0/revenue/0' });
        expect(withoutTime(await second.analyze('durable'))).toEqual(withoutTime(analysis));
        expect(await second.assign('other', 'anyone')).toMatchObject({
          variant: 'treatment',
          inExperiment: false,
        });
      });
    }
  });
}
