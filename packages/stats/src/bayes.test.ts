import { describe, expect, it } from 'vitest';
import { betaBinomialComparison, betaProbabilityToBeatExact, EXACT_LIMIT, gaussianComparison } from './bayes';
import { mulberry32, normalSample } from './random';
import type { Proportion } from './tests';

/** Gamma(a, 1) by Marsaglia & Tsang (2000), so Beta draws are X/(X+Y). */
function gamma(random: () => number, a: number): number {
  if (a < 1) return gamma(random, a + 1) * random() ** (1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normalSample(random);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - random()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function monteCarlo(
  control: Proportion,
  treatment: Proportion,
  prior = { alpha: 1, beta: 1 },
  draws = 200_000,
) {
  const random = mulberry32(99);
  const beta = (p: Proportion) => {
    const x = gamma(random, prior.alpha + p.successes);
    return x / (x + gamma(random, prior.beta + p.trials - p.successes));
  };
  let wins = 0;
  let loss = 0;
  for (let i = 0; i < draws; i++) {
    const c = beta(control);
    const t = beta(treatment);
    if (t > c) wins += 1;
    else loss += c - t;
  }
  return { probabilityToBeat: wins / draws, expectedLoss: loss / draws };
}

describe('betaBinomialComparison', () => {
  const cases: Array<[Proportion, Proportion, { alpha: number; beta: number }?]> = [
    [
      { successes: 20, trials: 100 },
      { successes: 30, trials: 100 },
    ],
    [
      { successes: 5, trials: 50 },
      { successes: 3, trials: 40 },
    ],
    [
      { successes: 0, trials: 10 },
      { successes: 1, trials: 10 },
    ],
    [
      { successes: 120, trials: 1000 },
      { successes: 131, trials: 1000 },
      { alpha: 2, beta: 8 },
    ],
  ];

  it.each(cases)('agrees with a 200k-draw Monte Carlo (%o vs %o)', (control, treatment, prior) => {
    const exact = betaBinomialComparison(control, treatment, prior ? { prior } : undefined);
    const mc = monteCarlo(control, treatment, prior);
    expect(Math.abs(exact.probabilityToBeat - mc.probabilityToBeat)).toBeLessThan(0.005);
    expect(Math.abs(exact.expectedLoss - mc.expectedLoss)).toBeLessThan(0.0003 + 0.02 * mc.expectedLoss);
  });

  it('matches Evan Miller’s closed form on a case small enough to sum by hand', () => {
    // Beta(1,1) vs Beta(2,1) (one success in one trial): P(T > C) = ∫₀¹ 2x·x dx = 2/3;
    // E[max(C − T, 0)] = ∫∫_{c>t} (c − t)·2t dt dc = 1/12.
    const r = betaBinomialComparison({ successes: 0, trials: 0 }, { successes: 1, trials: 1 });
    expect(r.probabilityToBeat).toBeCloseTo(2 / 3, 13);
    expect(r.expectedLoss).toBeCloseTo(1 / 12, 13);
  });

  it('is complementary: P(T > C) + P(C > T) = 1', () => {
    const c = { successes: 37, trials: 400 };
    const t = { successes: 45, trials: 410 };
    const forward = betaBinomialComparison(c, t).probabilityToBeat;
    const backward = betaBinomialComparison(t, c).probabilityToBeat;
    expect(forward + backward).toBeCloseTo(1, 12);
  });

  it('gives the same answer on both sides of the exact/normal switch', () => {
    const control = { successes: 4900, trials: 50_000 };
    const treatment = { successes: EXACT_LIMIT - 1, trials: 50_000 }; // posterior alpha = 5000: exact
    const exact = betaBinomialComparison(control, treatment);
    // A prior alpha a hair above 1 makes the posterior alpha fractional: normal branch, same data.
    const approx = betaBinomialComparison(control, treatment, { prior: { alpha: 1 + 1e-9, beta: 1 } });
    expect(Math.abs(exact.probabilityToBeat - approx.probabilityToBeat)).toBeLessThan(0.005);
    expect(Math.abs(exact.expectedLoss - approx.expectedLoss)).toBeLessThan(1e-4);
    // And across the limit itself: every posterior parameter above EXACT_LIMIT sends both to the normal branch.
    const above = betaBinomialComparison(
      { successes: EXACT_LIMIT, trials: 50_000 },
      { successes: EXACT_LIMIT + 100, trials: 50_000 },
    );
    const below = betaBinomialComparison(
      { successes: EXACT_LIMIT - 2, trials: 50_000 },
      { successes: EXACT_LIMIT + 98, trials: 50_000 },
    );
    expect(Math.abs(below.probabilityToBeat - above.probabilityToBeat)).toBeLessThan(0.005);
    // The exact sum itself, over the treatment's alpha, agrees with the route over the control's.
    const direct = betaProbabilityToBeatExact({ a: 4901, b: 45_101 }, { a: 5000, b: 45_002 });
    expect(direct).toBeCloseTo(exact.probabilityToBeat, 10);
  });

  // Reference values: test/reference/bayes_reference.py (scipy numerical integration of
  // ∫ f_C(x)·(1 − F_T(x)) dx, checked against ∫ f_T(y)·F_C(y) dy; the two agree to 1e-14).
  it.each([
    [{ successes: 20, trials: 40_000 }, { successes: 6_000, trials: 10_000_000 }, 0.7572246044071765],
    [{ successes: 6_000, trials: 10_000_000 }, { successes: 20, trials: 40_000 }, 0.24277539559282318],
    [{ successes: 270, trials: 10_500 }, { successes: 5_200, trials: 199_500 }, 0.5732103991829169],
    [{ successes: 5_200, trials: 199_500 }, { successes: 270, trials: 10_500 }, 0.42678960081708134],
  ])('is exact when either arm is small (%o vs %o)', (control, treatment, reference) => {
    const r = betaBinomialComparison(control, treatment);
    expect(Math.abs(r.probabilityToBeat - reference) / reference).toBeLessThan(1e-9);
  });

  it('is within 2e-5 of the integral when every parameter is above EXACT_LIMIT (normal branch)', () => {
    // 6,000/100,000 vs 6,100/100,000: 0.8258438510588121 (test/reference/bayes_reference.py).
    const r = betaBinomialComparison(
      { successes: 6_000, trials: 100_000 },
      { successes: 6_100, trials: 100_000 },
    );
    expect(Math.abs(r.probabilityToBeat - 0.8258438510588121)).toBeLessThan(2e-5);
  });

  it('keeps the credible interval around the observed difference', () => {
    const r = betaBinomialComparison({ successes: 200, trials: 1000 }, { successes: 250, trials: 1000 });
    expect(r.credibleInterval[0]).toBeLessThan(0.05);
    expect(r.credibleInterval[1]).toBeGreaterThan(0.05);
    expect(r.credibleInterval[0]).toBeGreaterThan(0); // 0.05 is ≈2.7 standard errors from 0
  });

  it('rejects invalid counts and priors naming the argument', () => {
    expect(() => betaBinomialComparison({ successes: 5, trials: 4 }, { successes: 1, trials: 2 })).toThrow(
      /control\.successes \(5\) must not exceed control\.trials/,
    );
    expect(() =>
      betaBinomialComparison(
        { successes: 1, trials: 4 },
        { successes: 1, trials: 2 },
        { prior: { alpha: 0, beta: 1 } },
      ),
    ).toThrow(/options\.prior\.alpha must be > 0/);
  });
});

describe('gaussianComparison', () => {
  it('uses the normal posterior of the difference of means', () => {
    // sd = √(4/30 + 9/40) = 0.598609; z = 1/0.598609 = 1.6705; Φ(1.67) = 0.9525 (normal table)
    const r = gaussianComparison({ n: 30, mean: 10, variance: 4 }, { n: 40, mean: 11, variance: 9 });
    expect(r.probabilityToBeat).toBeCloseTo(0.9526, 3);
    const sd = Math.sqrt(4 / 30 + 9 / 40);
    expect(r.credibleInterval[0]).toBeCloseTo(1 - 1.959964 * sd, 5);
    expect(r.credibleInterval[1]).toBeCloseTo(1 + 1.959964 * sd, 5);
    // Expected loss against a Monte Carlo of the same normal posterior.
    const random = mulberry32(5);
    let loss = 0;
    for (let i = 0; i < 200_000; i++) loss += Math.max(0, -(1 + sd * normalSample(random)));
    expect(r.expectedLoss).toBeCloseTo(loss / 200_000, 3);
  });

  it('rejects arms with fewer than two values', () => {
    expect(() => gaussianComparison({ n: 1, mean: 0, variance: 0 }, { n: 3, mean: 0, variance: 1 })).toThrow(
      /control\.n must be >= 2/,
    );
  });
});
