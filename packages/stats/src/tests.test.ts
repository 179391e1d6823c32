import { describe, expect, it } from 'vitest';
import { mulberry32, normalSample } from './random';
import { summarize } from './summary';
import { type Proportion, sampleRatioMismatch, twoProportionZTest, welchTTest } from './tests';

function binomial(random: () => number, trials: number, p: number): Proportion {
  let successes = 0;
  for (let i = 0; i < trials; i++) if (random() < p) successes += 1;
  return { successes, trials };
}

describe('twoProportionZTest', () => {
  it('reproduces a worked example', () => {
    // Control 200/1000 = 0.20, treatment 250/1000 = 0.25.
    // Pooled p̂ = 450/2000 = 0.225; SE₀ = √(0.225·0.775·(1/1000 + 1/1000)) = √0.00034875 = 0.0186748
    // z = 0.05 / 0.0186748 = 2.6774; two-sided p = 2·(1 − Φ(2.6774)) = 0.00742 (normal table)
    // Unpooled SE = √(0.2·0.8/1000 + 0.25·0.75/1000) = √0.0003475 = 0.0186414
    // 95% CI = 0.05 ± 1.959964·0.0186414 = [0.013464, 0.086536]
    const r = twoProportionZTest({ successes: 200, trials: 1000 }, { successes: 250, trials: 1000 });
    expect(r.difference).toBeCloseTo(0.05, 12);
    expect(r.relativeDifference).toBeCloseTo(0.25, 12);
    expect(r.statistic).toBeCloseTo(0.05 / Math.sqrt(0.00034875), 12);
    expect(r.statistic).toBeCloseTo(2.6774, 4);
    expect(r.pValue).toBeCloseTo(0.00742, 5);
    expect(r.confidenceInterval[0]).toBeCloseTo(0.013464, 6);
    expect(r.confidenceInterval[1]).toBeCloseTo(0.086536, 6);
    expect(r.alpha).toBe(0.05);
  });

  it('widens the interval for a smaller alpha and handles degenerate rates', () => {
    const c = { successes: 200, trials: 1000 };
    const t = { successes: 250, trials: 1000 };
    const narrow = twoProportionZTest(c, t);
    const wide = twoProportionZTest(c, t, { alpha: 0.01 });
    expect(wide.confidenceInterval[0]).toBeLessThan(narrow.confidenceInterval[0]);
    expect(wide.pValue).toBe(narrow.pValue);
    const none = twoProportionZTest({ successes: 0, trials: 50 }, { successes: 0, trials: 60 });
    expect(none.statistic).toBe(0);
    expect(none.pValue).toBe(1);
    expect(Number.isNaN(none.relativeDifference)).toBe(true);
  });

  it('has uniform p-values under the null: 5% rejections at alpha 0.05 over 2,000 experiments', () => {
    const random = mulberry32(11);
    const simulations = 2000;
    let rejections = 0;
    let belowHalf = 0;
    let covered = 0;
    for (let i = 0; i < simulations; i++) {
      const r = twoProportionZTest(binomial(random, 1000, 0.1), binomial(random, 1000, 0.1));
      if (r.pValue < 0.05) rejections += 1;
      if (r.pValue < 0.5) belowHalf += 1;
      if (r.confidenceInterval[0] <= 0 && r.confidenceInterval[1] >= 0) covered += 1;
    }
    expect(rejections / simulations).toBeGreaterThanOrEqual(0.03);
    expect(rejections / simulations).toBeLessThanOrEqual(0.07);
    expect(belowHalf / simulations).toBeGreaterThan(0.45);
    expect(belowHalf / simulations).toBeLessThan(0.55);
    expect(covered / simulations).toBeGreaterThan(0.93);
  });

  it('has power against a real difference', () => {
    const random = mulberry32(12);
    let rejections = 0;
    for (let i = 0; i < 300; i++) {
      if (twoProportionZTest(binomial(random, 2000, 0.1), binomial(random, 2000, 0.13)).pValue < 0.05)
        rejections += 1;
    }
    expect(rejections / 300).toBeGreaterThan(0.8);
  });
});

describe('welchTTest', () => {
  it('matches the Welch example of Wikipedia (reference: scipy ttest_ind, equal_var=False)', () => {
    const a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
    const a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
    // Wikipedia, "Welch's t-test", example 1: t = −2.46 (for A1 − A2), ν ≈ 24.99, p = 0.021.
    const r = welchTTest(summarize(a2), summarize(a1));
    expect(r.statistic).toBeCloseTo(-2.46, 2);
    expect(r.degreesOfFreedom).toBeCloseTo(25, 0);
    expect(r.pValue).toBeCloseTo(0.021, 3);
  });

  it('matches scipy on summary statistics, interval included', () => {
    const x = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
    const y = [
      28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3,
      20.4, 23.9, 13.3,
    ];
    // scipy.stats.ttest_ind(y, x, equal_var=False): t 2.225512039969852, p 0.035484530830010394,
    // df 24.524634944257343, 95% CI (0.16354134987944358, 4.276458650120555)
    const r = welchTTest(summarize(x), summarize(y));
    expect(r.statistic).toBeCloseTo(2.225512039969852, 11);
    expect(r.pValue).toBeCloseTo(0.035484530830010394, 11);
    expect(r.degreesOfFreedom).toBeCloseTo(24.524634944257343, 9);
    expect(r.confidenceInterval[0]).toBeCloseTo(0.16354134987944358, 10);
    expect(r.confidenceInterval[1]).toBeCloseTo(4.276458650120555, 10);
    // Summary input (scipy ttest_ind_from_stats(10, 2, 30, 11, 3, 40, equal_var=False)).
    const s = welchTTest({ n: 30, mean: 10, variance: 4 }, { n: 40, mean: 11, variance: 9 });
    expect(s.statistic).toBeCloseTo(1.6705381391691134, 12);
    expect(s.pValue).toBeCloseTo(0.09946541117633102, 12);
  });

  it('has uniform p-values under the null with skewed data', () => {
    const random = mulberry32(21);
    const simulations = 2000;
    let rejections = 0;
    for (let i = 0; i < simulations; i++) {
      // Exponential revenue-like values, different sizes per arm.
      const c = summarize(Array.from({ length: 200 }, () => -Math.log(1 - random())));
      const t = summarize(Array.from({ length: 300 }, () => -Math.log(1 - random())));
      if (welchTTest(c, t).pValue < 0.05) rejections += 1;
    }
    expect(rejections / simulations).toBeGreaterThanOrEqual(0.03);
    expect(rejections / simulations).toBeLessThanOrEqual(0.07);
  });

  it('has power against a real difference', () => {
    const random = mulberry32(22);
    let rejections = 0;
    for (let i = 0; i < 200; i++) {
      const c = summarize(Array.from({ length: 200 }, () => normalSample(random)));
      const t = summarize(Array.from({ length: 200 }, () => 0.4 + normalSample(random)));
      if (welchTTest(c, t).pValue < 0.05) rejections += 1;
    }
    expect(rejections / 200).toBeGreaterThan(0.9);
  });
});

describe('sampleRatioMismatch', () => {
  it('flags a 50/50 split observed as 5000/5300 and not 5000/5050', () => {
    // 5000/5300: expected 5150 each, χ² = 2·150²/5150 = 8.7379, p = 0.0031 (χ², 1 df).
    const skewed = sampleRatioMismatch([5000, 5300], [0.5, 0.5], { threshold: 0.01 });
    expect(skewed.chiSquare).toBeCloseTo((2 * 150 ** 2) / 5150, 10);
    expect(skewed.pValue).toBeCloseTo(0.003116693839866867, 12);
    expect(skewed.mismatch).toBe(true);
    expect(skewed.expected).toEqual([5150, 5150]);
    expect(skewed.degreesOfFreedom).toBe(1);
    // 5000/5050: χ² = 2·25²/5025 = 0.2488, p = 0.618.
    const fine = sampleRatioMismatch([5000, 5050], [0.5, 0.5], { threshold: 0.01 });
    expect(fine.pValue).toBeCloseTo(0.618, 3);
    expect(fine.mismatch).toBe(false);
    // The default threshold 0.001 is stricter: 5000/5300 passes it, 5000/5400 (p ≈ 8.8e-5) does not.
    expect(sampleRatioMismatch([5000, 5300], [1, 1]).mismatch).toBe(false);
    expect(sampleRatioMismatch([5000, 5400], [1, 1]).mismatch).toBe(true);
  });

  it('handles uneven and multi-way splits and impossible variants', () => {
    // scipy.stats.chisquare([1000, 1100, 2100], [1050, 1050, 2100]): 4.761904761904762, p 0.09246247606291999
    const r = sampleRatioMismatch([1000, 1100, 2100], [25, 25, 50]);
    expect(r.chiSquare).toBeCloseTo(4.761904761904762, 12);
    expect(r.pValue).toBeCloseTo(0.09246247606291999, 12);
    expect(r.degreesOfFreedom).toBe(2);
    expect(sampleRatioMismatch([900, 100, 1], [0.9, 0.1, 0]).mismatch).toBe(true);
    expect(sampleRatioMismatch([0, 0], [1, 1]).pValue).toBe(1);
  });
});

describe('invalid input', () => {
  it('throws naming the argument', () => {
    const ok = { successes: 1, trials: 10 };
    expect(() => twoProportionZTest({ successes: 11, trials: 10 }, ok)).toThrow(
      /control\.successes \(11\) must not exceed control\.trials/,
    );
    expect(() => twoProportionZTest(ok, { successes: -1, trials: 10 })).toThrow(
      /treatment\.successes must be >= 0/,
    );
    expect(() => twoProportionZTest(ok, { successes: 0, trials: 0 })).toThrow(
      /treatment\.trials must be >= 1/,
    );
    expect(() => twoProportionZTest(ok, ok, { alpha: 1.5 })).toThrow(/options\.alpha/);
    expect(() => twoProportionZTest(ok, { successes: Number.NaN, trials: 3 })).toThrow(
      /treatment\.successes must not be NaN/,
    );
    expect(() => welchTTest({ n: 1, mean: 0, variance: 0 }, { n: 5, mean: 0, variance: 1 })).toThrow(
      /control\.n must be >= 2/,
    );
    expect(() => sampleRatioMismatch([1, 2], [0, 0])).toThrow(/weights must sum to > 0/);
    expect(() => sampleRatioMismatch([1, 2], [1, -1])).toThrow(/weights\[1\] must be >= 0/);
    expect(() => sampleRatioMismatch([1, -2], [1, 1])).toThrow(/observed\[1\] must be >= 0/);
    expect(() => sampleRatioMismatch([1, 2, 3], [1, 1])).toThrow(/observed has 3 entries but weights has 2/);
  });
});

describe('relative lift', () => {
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

  it('divides by |baseline|: a negative mean moving up from −2 to −1.8 is +10 %', () => {
    // References: test/reference/relative_reference.py (GrowthBook's delta-method variance, scipy t quantile).
    const r = welchTTest({ n: 100, mean: -2, variance: 1 }, { n: 120, mean: -1.8, variance: 1.5 });
    expect(rel(r.relativeDifference, 0.09999999999999998)).toBeLessThan(1e-9);
    expect(rel(r.relativeConfidenceInterval[0], -0.041439383706819655)).toBeLessThan(1e-9);
    expect(rel(r.relativeConfidenceInterval[1], 0.2414393837068196)).toBeLessThan(1e-9);
  });

  it('gives the delta-method interval for a conversion rate', () => {
    const r = twoProportionZTest({ successes: 200, trials: 1000 }, { successes: 250, trials: 1000 });
    expect(rel(r.relativeConfidenceInterval[0], 0.04502206008611068)).toBeLessThan(1e-9);
    expect(rel(r.relativeConfidenceInterval[1], 0.45497793991388924)).toBeLessThan(1e-9);
  });

  it('is NaN, not infinite, on a zero baseline', () => {
    const r = welchTTest({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 1, variance: 1 });
    expect(Number.isNaN(r.relativeDifference)).toBe(true);
    expect(r.relativeConfidenceInterval.every(Number.isNaN)).toBe(true);
  });
});
