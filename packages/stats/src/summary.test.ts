import { describe, expect, it } from 'vitest';
import { mulberry32, normalSample } from './random';
import { mergeSummaries, summarize, summaryFromSums } from './summary';

function twoPass(values: number[]): { mean: number; variance: number } {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, variance };
}

describe('summarize', () => {
  it('gives the mean and the sample (n − 1) variance', () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, so s² = 32/7.
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.n).toBe(8);
    expect(s.mean).toBeCloseTo(5, 14);
    expect(s.variance).toBeCloseTo(32 / 7, 14);
  });

  it('has variance 0 below two values and accepts any iterable', () => {
    expect(summarize([])).toEqual({ n: 0, mean: 0, variance: 0 });
    expect(summarize([3])).toEqual({ n: 1, mean: 3, variance: 0 });
    expect(summarize(new Set([1, 2, 3])).variance).toBeCloseTo(1, 14);
  });

  it('stays accurate with a large offset, where sum-of-squares cancels', () => {
    const values = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16];
    expect(summarize(values).variance).toBeCloseTo(30, 8); // deviations ±6, ±3 → (36+9+9+36)/3
  });
});

describe('mergeSummaries', () => {
  it('equals summarising the concatenation, for any split', () => {
    const random = mulberry32(7);
    const values = Array.from({ length: 1000 }, () => 50 + 10 * normalSample(random));
    const whole = twoPass(values);
    for (const cut of [0, 1, 2, 333, 999, 1000]) {
      const merged = mergeSummaries(summarize(values.slice(0, cut)), summarize(values.slice(cut)));
      expect(merged.n).toBe(1000);
      expect(merged.mean).toBeCloseTo(whole.mean, 10);
      expect(merged.variance).toBeCloseTo(whole.variance, 9);
    }
  });
});

describe('summaryFromSums', () => {
  it('reads COUNT, SUM and SUM(x*x)', () => {
    const values = [2, 4, 4, 4, 5, 5, 7, 9];
    const s = summaryFromSums(
      8,
      40,
      values.reduce((a, v) => a + v * v, 0),
    );
    expect(s).toEqual({ n: 8, mean: 5, variance: 32 / 7 });
    expect(summaryFromSums(0, 0, 0)).toEqual({ n: 0, mean: 0, variance: 0 });
    // Rounding must not make the variance negative.
    const x = 0.1 + 0.2;
    expect(summaryFromSums(3, 3 * x, 3 * x * x).variance).toBeGreaterThanOrEqual(0);
  });

  it('rejects impossible input naming the argument', () => {
    expect(() => summaryFromSums(-1, 0, 0)).toThrow(/n must be >= 0/);
    expect(() => summaryFromSums(2.5, 0, 0)).toThrow(/n must be a whole number/);
    expect(() => summaryFromSums(2, Number.NaN, 0)).toThrow(/sum must not be NaN/);
    expect(() => summaryFromSums(2, 1, -1)).toThrow(/sumOfSquares must be >= 0/);
    expect(() => summarize([1, Number.NaN])).toThrow(/values\[1\] must not be NaN/);
    expect(() => summarize([1, Number.POSITIVE_INFINITY])).toThrow(/values\[1\] must be finite/);
    expect(() => mergeSummaries({ n: -2, mean: 0, variance: 0 }, { n: 1, mean: 0, variance: 0 })).toThrow(
      /a\.n/,
    );
    expect(() => mergeSummaries({ n: 2, mean: 0, variance: 0 }, { n: 1, mean: 0, variance: -1 })).toThrow(
      /b\.variance/,
    );
  });
});
