import { describe, expect, it } from 'vitest';
import { normalCdf } from './distributions';
import { mulberry32, normalSample } from './random';

describe('mulberry32', () => {
  it('is deterministic per seed and different across seeds', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
  });

  it('is uniform on [0, 1): mean ½, variance 1/12, equal deciles', () => {
    const random = mulberry32(1);
    const n = 100_000;
    const deciles = new Array(10).fill(0);
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const u = random();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      sumSq += u * u;
      deciles[Math.floor(u * 10)] += 1;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(sumSq / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 3);
    for (const count of deciles) expect(Math.abs(count - n / 10)).toBeLessThan(400); // ≈4 sd
  });
});

describe('normalSample', () => {
  it('draws N(0, 1): moments and tail frequencies', () => {
    const random = mulberry32(2);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    let below = 0;
    for (let i = 0; i < n; i++) {
      const z = normalSample(random);
      sum += z;
      sumSq += z * z;
      if (z < -1.5) below += 1;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.015);
    expect(sumSq / n).toBeCloseTo(1, 1);
    expect(Math.abs(below / n - normalCdf(-1.5))).toBeLessThan(0.003);
  });

  it('rejects a non-function source', () => {
    expect(() => normalSample(0.5 as any)).toThrow(/random must be a function/);
    expect(() => mulberry32(Number.NaN)).toThrow(/seed must not be NaN/);
  });
});
