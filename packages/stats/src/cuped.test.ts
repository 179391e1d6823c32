import { describe, expect, it } from 'vitest';
import { cuped, summarizeWithCovariate } from './cuped';
import { mulberry32, normalSample } from './random';
import { welchTTest } from './tests';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const range = (n: number, f: (k: number) => number) => Array.from({ length: n }, (_, k) => f(k));

describe('cuped', () => {
  it('matches numpy on per-unit adjusted values', () => {
    // References: test/reference/cuped_reference.py (numpy over the raw values, same formulas for the data).
    const xc = range(50, (k) => Math.sqrt(k + 1));
    const yc = xc.map((x, k) => 3 + 2 * x + Math.sin(k));
    const xt = range(40, (k) => Math.sqrt(k + 1.5));
    const yt = xt.map((x, k) => 3.4 + 2 * x + Math.cos(k));
    const r = cuped(summarizeWithCovariate(yc, xc), summarizeWithCovariate(yt, xt));
    expect(rel(r.theta, 1.9762358283561192)).toBeLessThan(1e-9);
    expect(rel(r.control.mean, 12.19449576341787)).toBeLessThan(1e-9);
    expect(rel(r.control.variance, 0.5076870186215597)).toBeLessThan(1e-9);
    expect(rel(r.treatment.mean, 12.619100222332868)).toBeLessThan(1e-9);
    expect(rel(r.treatment.variance, 0.5156542292814748)).toBeLessThan(1e-9);
    expect(r.varianceReduction).toBeGreaterThan(0.9);
  });

  it('removes about ρ² of the variance and keeps the A/A false-positive rate at alpha (seeded simulation)', () => {
    // Y = X + noise with Var(X) = Var(noise) = 1: ρ² = 0.5.
    const random = mulberry32(8080);
    const runs = 400;
    let rejections = 0;
    let reduction = 0;
    const arm = (n: number) => {
      const x = range(n, () => normalSample(random));
      const y = x.map((v) => 5 + v + normalSample(random));
      return summarizeWithCovariate(y, x);
    };
    for (let run = 0; run < runs; run++) {
      const r = cuped(arm(200), arm(200));
      reduction += r.varianceReduction;
      if (welchTTest(r.control, r.treatment).pValue < 0.05) rejections += 1;
    }
    expect(reduction / runs).toBeGreaterThan(0.45);
    expect(reduction / runs).toBeLessThan(0.55);
    // alpha·runs plus three binomial standard deviations (20 + 13).
    expect(rejections).toBeLessThanOrEqual(33);
  });

  it('leaves the summaries alone when the covariate does not vary, and rejects bad input', () => {
    const flat = summarizeWithCovariate([1, 2, 3], [7, 7, 7]);
    const r = cuped(flat, flat);
    expect(r.theta).toBe(0);
    expect(r.control).toEqual({ n: 3, mean: 2, variance: 1 });
    expect(() => summarizeWithCovariate([1, 2], [1])).toThrow(/values has 2 entries but covariates has 1/);
    expect(() => cuped(summarizeWithCovariate([1], [1]), flat)).toThrow(/control\.n must be >= 2/);
  });
});
