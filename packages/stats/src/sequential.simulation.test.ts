/**
 * Seeded simulations of the mSPRT as an experiment runs it: a look after
 * every 100 new units, carrying the running minimum between looks, stopping
 * at the first look whose always-valid p-value is ≤ alpha. Counts, not
 * rates, are asserted, so a failure names how many runs went wrong.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32, normalSample } from './random';
import { msprtMeans, msprtProportions } from './sequential';
import { mergeSummaries, type Summary, summarize } from './summary';

const ALPHA = 0.05;
const RUNS = 300;
const LOOKS = 50;
const UNITS_PER_LOOK = 100;

/**
 * The most false stops that a test whose true rate is alpha gives in `runs`
 * runs with probability about 99.9 %: the binomial mean plus 3 standard
 * deviations. A rate above alpha (the pooled-variance bug gave 47 of 300)
 * exceeds it.
 */
function allowedFalseStops(runs: number, alpha: number): number {
  return Math.floor(runs * alpha + 3 * Math.sqrt(runs * alpha * (1 - alpha)));
}

interface Arm {
  share: number;
  draw: (random: () => number) => number;
}

/** Runs of a continuous metric; returns how many stopped, and how many of those with the treatment ahead. */
function simulateMeans(seed: number, control: Arm, treatment: Arm, runs = RUNS, looks = LOOKS) {
  const random = mulberry32(seed);
  let stopped = 0;
  let stoppedAhead = 0;
  for (let run = 0; run < runs; run++) {
    let c: Summary = { n: 0, mean: 0, variance: 0 };
    let t: Summary = { n: 0, mean: 0, variance: 0 };
    let previousPValue = 1;
    for (let look = 0; look < looks; look++) {
      const nt = Math.round(UNITS_PER_LOOK * treatment.share);
      c = mergeSummaries(
        c,
        summarize(Array.from({ length: UNITS_PER_LOOK - nt }, () => control.draw(random))),
      );
      t = mergeSummaries(t, summarize(Array.from({ length: nt }, () => treatment.draw(random))));
      const r = msprtMeans(c, t, { alpha: ALPHA, previousPValue });
      previousPValue = r.alwaysValidPValue;
      if (r.canStop) {
        stopped += 1;
        if (t.mean > c.mean) stoppedAhead += 1;
        break;
      }
    }
  }
  return { stopped, stoppedAhead };
}

/** Runs of a conversion metric with true rates `pc` and `pt`. */
function simulateProportions(
  seed: number,
  treatmentShare: number,
  pc: number,
  pt: number,
  runs = RUNS,
  looks = LOOKS,
  unitsPerLook = UNITS_PER_LOOK,
) {
  const random = mulberry32(seed);
  let stopped = 0;
  let stoppedAhead = 0;
  for (let run = 0; run < runs; run++) {
    const c = { successes: 0, trials: 0 };
    const t = { successes: 0, trials: 0 };
    let previousPValue = 1;
    for (let look = 0; look < looks; look++) {
      const nt = Math.round(unitsPerLook * treatmentShare);
      for (let i = 0; i < unitsPerLook - nt; i++) if (random() < pc) c.successes += 1;
      for (let i = 0; i < nt; i++) if (random() < pt) t.successes += 1;
      c.trials += unitsPerLook - nt;
      t.trials += nt;
      const r = msprtProportions(c, t, { alpha: ALPHA, previousPValue });
      previousPValue = r.alwaysValidPValue;
      if (r.canStop) {
        stopped += 1;
        if (t.successes / t.trials > c.successes / c.trials) stoppedAhead += 1;
        break;
      }
    }
  }
  return { stopped, stoppedAhead };
}

const normal = (mean: number, sd: number) => (random: () => number) => mean + sd * normalSample(random);

describe('msprtMeans under peeking every 100 units (A/A: equal means)', () => {
  const limit = allowedFalseStops(RUNS, ALPHA);
  it.each([
    { split: '50/50', share: 0.5, sdControl: 1, sdTreatment: 1, seed: 101 },
    { split: '50/50', share: 0.5, sdControl: 1, sdTreatment: 2, seed: 102 },
    { split: '90/10', share: 0.1, sdControl: 1, sdTreatment: 1, seed: 103 },
    { split: '90/10', share: 0.1, sdControl: 1, sdTreatment: 2, seed: 104 },
    { split: '90/10', share: 0.1, sdControl: 2, sdTreatment: 1, seed: 105 },
  ])(
    '$split split, sd $sdControl vs $sdTreatment: false stops within alpha',
    ({ share, sdControl, sdTreatment, seed }) => {
      const { stopped } = simulateMeans(
        seed,
        { share: 1 - share, draw: normal(10, sdControl) },
        { share, draw: normal(10, sdTreatment) },
      );
      expect(stopped).toBeLessThanOrEqual(limit);
    },
  );

  it('reproduces the reported canary case: Welch p = 0.093 is no reason to ship', () => {
    // Control {n 19000, mean 10, var 1} vs treatment {n 1000, mean 10.16, var 9}. V = 1/19000 + 9/1000,
    // τ² = 0.01 × pooled variance (18998·1 + 999·9)/19998; Λ from the closed form of the module comment.
    const v = 1 / 19000 + 9 / 1000;
    const tau2 = (0.01 * (18999 * 1 + 999 * 9)) / 19998;
    const d = 0.16;
    const lambda = Math.sqrt(v / (v + tau2)) * Math.exp((tau2 * d * d) / (2 * v * (v + tau2)));
    const r = msprtMeans({ n: 19000, mean: 10, variance: 1 }, { n: 1000, mean: 10.16, variance: 9 });
    expect(r.likelihoodRatio).toBeCloseTo(lambda, 12);
    expect(Math.abs(r.alwaysValidPValue - 1 / lambda) / (1 / lambda)).toBeLessThan(1e-9);
    expect(r.canStop).toBe(false);
    // The pooled variance gave 0.00125 here (the reported bug).
    expect(r.alwaysValidPValue).toBeGreaterThan(0.05);
  });

  it('has power at a real +5 % lift (mean 10 → 10.5) on a 90/10 split with unequal variances', () => {
    const { stopped, stoppedAhead } = simulateMeans(
      201,
      { share: 0.9, draw: normal(10, 1) },
      { share: 0.1, draw: normal(10.5, 2) },
      200,
    );
    // Fixed-horizon power at the last look (500 treatment units) is > 99.9 %; the mSPRT pays for peeking.
    expect(stopped).toBeGreaterThanOrEqual(180);
    expect(stoppedAhead).toBe(stopped);
  });
});

describe('msprtProportions under peeking every 100 units (A/A: equal rates)', () => {
  const limit = allowedFalseStops(RUNS, ALPHA);
  it.each([
    { split: '50/50', share: 0.5, rate: 0.1, seed: 301 },
    { split: '50/50', share: 0.5, rate: 0.5, seed: 302 },
    { split: '90/10', share: 0.1, rate: 0.1, seed: 303 },
    { split: '90/10', share: 0.1, rate: 0.5, seed: 304 },
  ])('$split split, rate $rate: false stops within alpha', ({ share, rate, seed }) => {
    const { stopped } = simulateProportions(seed, share, rate, rate);
    expect(stopped).toBeLessThanOrEqual(limit);
  });

  it('has power at a real +5 % lift (50 % → 52.5 %)', () => {
    // Looks every 1,000 units up to 40,000: the fixed-horizon z at the end is about 5.
    const { stopped, stoppedAhead } = simulateProportions(401, 0.5, 0.5, 0.525, 100, 40, 1000);
    expect(stopped).toBeGreaterThanOrEqual(80);
    expect(stoppedAhead).toBe(stopped);
  });
});
