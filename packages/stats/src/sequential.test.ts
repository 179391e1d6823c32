import { describe, expect, it } from 'vitest';
import { mulberry32, normalSample } from './random';
import { msprtMeans, msprtProportions } from './sequential';
import { mergeSummaries, type Summary, summarize } from './summary';
import { type Proportion, twoProportionZTest, welchTTest } from './tests';

describe('msprtMeans', () => {
  it('computes the mixture likelihood ratio of Johari et al. (equal-n form)', () => {
    // Λ_n = √(2σ²/(2σ² + nτ²)) · exp(n²τ²Δ² / (4σ²(2σ² + nτ²))) with n = 100, σ² = 1, τ² = 0.5, Δ = 0.3
    const n = 100;
    const tau2 = 0.5;
    const expected = Math.sqrt(2 / (2 + n * tau2)) * Math.exp((n * n * tau2 * 0.09) / (4 * (2 + n * tau2)));
    const r = msprtMeans(
      { n, mean: 0, variance: 1 },
      { n, mean: 0.3, variance: 1 },
      { mixtureVariance: tau2 },
    );
    expect(r.likelihoodRatio).toBeCloseTo(expected, 12);
    expect(r.likelihoodRatio).toBeCloseTo(1.7065, 3);
    expect(r.alwaysValidPValue).toBeCloseTo(1 / expected, 12);
    expect(r.canStop).toBe(false);
  });

  it('carries the running minimum between looks and caps the p-value at 1', () => {
    const c = { n: 100, mean: 0, variance: 1 };
    const t = { n: 100, mean: 0.01, variance: 1 };
    expect(msprtMeans(c, t).alwaysValidPValue).toBe(1);
    expect(msprtMeans(c, t, { previousPValue: 0.2 }).alwaysValidPValue).toBe(0.2);
    const strong = msprtMeans(c, { n: 100, mean: 0.8, variance: 1 }, { previousPValue: 0.2 });
    expect(strong.alwaysValidPValue).toBeLessThan(0.05);
    expect(strong.canStop).toBe(true);
  });

  it('keeps the type-I error below alpha when peeking after every batch, where a naive t-test does not', () => {
    const random = mulberry32(2024);
    const simulations = 1000;
    const looks = 40;
    const batch = 50;
    let sequentialStops = 0;
    let naiveStops = 0;
    for (let s = 0; s < simulations; s++) {
      let control: Summary = { n: 0, mean: 0, variance: 0 };
      let treatment: Summary = { n: 0, mean: 0, variance: 0 };
      let previousPValue = 1;
      let sequentialStopped = false;
      let naiveStopped = false;
      for (let look = 0; look < looks; look++) {
        control = mergeSummaries(
          control,
          summarize(Array.from({ length: batch }, () => normalSample(random))),
        );
        treatment = mergeSummaries(
          treatment,
          summarize(Array.from({ length: batch }, () => normalSample(random))),
        );
        const r = msprtMeans(control, treatment, { previousPValue });
        previousPValue = r.alwaysValidPValue;
        if (r.canStop) sequentialStopped = true;
        if (welchTTest(control, treatment).pValue < 0.05) naiveStopped = true;
      }
      if (sequentialStopped) sequentialStops += 1;
      if (naiveStopped) naiveStops += 1;
    }
    expect(sequentialStops / simulations).toBeLessThanOrEqual(0.06);
    expect(naiveStops / simulations).toBeGreaterThan(0.1);
  });

  it('stops when there is a real effect', () => {
    const random = mulberry32(7);
    let stopped = 0;
    for (let s = 0; s < 100; s++) {
      let control: Summary = { n: 0, mean: 0, variance: 0 };
      let treatment: Summary = { n: 0, mean: 0, variance: 0 };
      let previousPValue = 1;
      for (let look = 0; look < 40 && previousPValue > 0.05; look++) {
        control = mergeSummaries(control, summarize(Array.from({ length: 50 }, () => normalSample(random))));
        treatment = mergeSummaries(
          treatment,
          summarize(Array.from({ length: 50 }, () => 0.2 + normalSample(random))),
        );
        previousPValue = msprtMeans(control, treatment, { previousPValue }).alwaysValidPValue;
      }
      if (previousPValue <= 0.05) stopped += 1;
    }
    expect(stopped).toBeGreaterThan(80);
  });
});

describe('msprtProportions', () => {
  it('keeps the type-I error below alpha under continuous peeking, where a naive z-test does not', () => {
    const random = mulberry32(77);
    const simulations = 1000;
    let sequentialStops = 0;
    let naiveStops = 0;
    for (let s = 0; s < simulations; s++) {
      const control: Proportion = { successes: 0, trials: 0 };
      const treatment: Proportion = { successes: 0, trials: 0 };
      let previousPValue = 1;
      let sequentialStopped = false;
      let naiveStopped = false;
      for (let look = 0; look < 30; look++) {
        for (let i = 0; i < 100; i++) {
          control.trials += 1;
          if (random() < 0.1) control.successes += 1;
          treatment.trials += 1;
          if (random() < 0.1) treatment.successes += 1;
        }
        const r = msprtProportions(control, treatment, { previousPValue });
        previousPValue = r.alwaysValidPValue;
        if (r.canStop) sequentialStopped = true;
        if (twoProportionZTest(control, treatment).pValue < 0.05) naiveStopped = true;
      }
      if (sequentialStopped) sequentialStops += 1;
      if (naiveStopped) naiveStops += 1;
    }
    expect(sequentialStops / simulations).toBeLessThanOrEqual(0.06);
    expect(naiveStops / simulations).toBeGreaterThan(0.1);
  });

  it('is conclusive when outcomes differ without any spread, and silent when they agree', () => {
    expect(msprtProportions({ successes: 0, trials: 50 }, { successes: 0, trials: 50 }).likelihoodRatio).toBe(
      1,
    );
    const big = msprtProportions({ successes: 100, trials: 1000 }, { successes: 200, trials: 1000 });
    expect(big.canStop).toBe(true);
    expect(big.alwaysValidPValue).toBeLessThan(1e-6);
  });

  it('rejects invalid options naming them', () => {
    const p = { successes: 1, trials: 10 };
    expect(() => msprtProportions(p, p, { previousPValue: 2 })).toThrow(/options\.previousPValue/);
    expect(() => msprtProportions(p, p, { mixtureVariance: -1 })).toThrow(
      /options\.mixtureVariance must be > 0/,
    );
    expect(() => msprtProportions(p, p, { alpha: 0 })).toThrow(/options\.alpha/);
    expect(() => msprtProportions(p, { successes: 3, trials: 2 })).toThrow(/treatment\.successes/);
    expect(() => msprtMeans({ n: 1, mean: 0, variance: 0 }, { n: 2, mean: 0, variance: 1 })).toThrow(
      /control\.n/,
    );
  });
});
