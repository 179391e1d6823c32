import { describe, expect, it } from 'vitest';
import { kolmogorovSf } from './distributions';
import {
  histogram,
  jensenShannonDistance,
  KS_EXACT_LIMIT,
  ksTwoSample,
  populationStabilityIndex,
  quantileBins,
  wassersteinDistance,
  wassersteinDistanceNormed,
} from './drift';
import { mulberry32, normalSample } from './random';

function normals(seed: number, n: number, shift = 0): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => shift + normalSample(random));
}

describe('populationStabilityIndex', () => {
  it('is 0 for identical distributions and matches a hand computation', () => {
    expect(populationStabilityIndex([10, 20, 30], [10, 20, 30])).toBe(0);
    expect(populationStabilityIndex([10, 20, 30], [20, 40, 60])).toBeCloseTo(0, 15);
    // Shares 0.5/0.5 → 0.25/0.75: (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.25·ln 2 + 0.25·ln 1.5
    expect(populationStabilityIndex([50, 50], [25, 75])).toBeCloseTo(
      0.25 * Math.log(2) + 0.25 * Math.log(1.5),
      14,
    );
  });

  it('grows with the shift of a normal feature binned at reference deciles', () => {
    const reference = normals(1, 20_000);
    const edges = quantileBins(reference, 10);
    const expected = histogram(reference, edges);
    const psi = [0, 0.1, 0.25, 0.5, 1].map((shift) =>
      populationStabilityIndex(expected, histogram(normals(2, 20_000, shift), edges)),
    );
    for (let i = 1; i < psi.length; i++) expect(psi[i]!).toBeGreaterThan(psi[i - 1]!);
    expect(psi[0]!).toBeLessThan(0.01); // same distribution, new sample
    expect(psi[4]!).toBeGreaterThan(0.25); // one standard deviation: a major shift
  });

  it('fills only empty bins: a rare bin that grows counts in full', () => {
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    // Σ (a − e)·ln(a/e) over shares [1e-5, 0.99999] → [5e-4, 0.9995], computed in Python by the same formula
    // (0.0019171314339057157); flooring every share at 1e-4 gave 0.00064.
    expect(rel(populationStabilityIndex([1, 99_999], [50, 99_950]), 0.0019171314339057157)).toBeLessThan(
      1e-9,
    );
    // An empty bin gets epsilon: (1 − 0.5)·ln(1/0.5) + (1e-4 − 0.5)·ln(1e-4/0.5) = 4.60431846666895
    expect(rel(populationStabilityIndex([10, 10], [20, 0]), 4.60431846666895)).toBeLessThan(1e-9);
    // …or the smallest real share / 10⁶ when that share is ≤ epsilon (1e-5 → 1e-11), Evidently's rule:
    // shares [1e-5, 0.99999, 1e-11] → [1e-5, 0.99998, 1e-5] give 0.0001381550674260372.
    expect(rel(populationStabilityIndex([1, 99_999, 0], [1, 99_998, 1]), 0.0001381550674260372)).toBeLessThan(
      1e-9,
    );
  });

  it('stays finite when a bin is empty, and rejects bad counts naming them', () => {
    expect(Number.isFinite(populationStabilityIndex([10, 10], [20, 0]))).toBe(true);
    expect(populationStabilityIndex([10, 10], [20, 0], { epsilon: 1e-8 })).toBeGreaterThan(
      populationStabilityIndex([10, 10], [20, 0]),
    );
    expect(() => populationStabilityIndex([1, 2], [1, 2, 3])).toThrow(/expected has 2 bins but actual has 3/);
    expect(() => populationStabilityIndex([1, -2], [1, 2])).toThrow(/expected\[1\] must be >= 0/);
    expect(() => populationStabilityIndex([0, 0], [1, 2])).toThrow(/expected must have a positive total/);
    expect(() => populationStabilityIndex([1, 2], [1, Number.NaN])).toThrow(/actual\[1\] must not be NaN/);
  });
});

describe('ksTwoSample', () => {
  it('finds the largest gap between the empirical CDFs', () => {
    // F_a − F_b at 5: 5/5 − 3/6 = 0.5 (the maximum).
    const r = ksTwoSample([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]);
    expect(r.statistic).toBe(0.5);
    expect(r.method).toBe('exact');
    // Ties move both CDFs together.
    expect(ksTwoSample([1, 1, 2, 2], [2, 1, 2, 1]).statistic).toBe(0);
    expect(ksTwoSample([0, 0, 0], [1, 1]).statistic).toBe(1);
  });

  it('gives a small p-value for shifted normals and a large one for the same distribution', () => {
    expect(ksTwoSample(normals(3, 500), normals(4, 500, 0.5)).pValue).toBeLessThan(1e-6);
    expect(ksTwoSample(normals(3, 500), normals(4, 400)).pValue).toBeGreaterThan(0.05);
  });

  it('rejects about alpha of same-distribution pairs', () => {
    let rejections = 0;
    for (let s = 0; s < 400; s++)
      if (ksTwoSample(normals(100 + s, 200), normals(900 + s, 300)).pValue < 0.05) rejections += 1;
    expect(rejections / 400).toBeLessThanOrEqual(0.08);
    expect(rejections / 400).toBeGreaterThanOrEqual(0.02);
  });

  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  const range = (n: number, f: (k: number) => number) => Array.from({ length: n }, (_, k) => f(k));

  // References: test/reference/ks_reference.py — scipy.stats.ks_2samp(a, b, method='exact') without
  // ties (its asymptotic p in the comment, to show the gap), brute-force enumeration of every split of
  // the pooled sample with ties (scipy's exact method ignores ties, so it differs there).
  it.each([
    ['2 vs 2 disjoint', [1, 2], [3, 4], 1, 0.3333333333333333], // asymptotic 0.097 before
    ['5 vs 6', [1, 2, 3, 4, 5], [3.5, 4.5, 5.5, 6.5, 7.5, 8.5], 2 / 3, 0.10822510822510821], // asymp 0.0741
    [
      '50 vs 60',
      range(50, (k) => k),
      range(60, (k) => 0.35 + 0.9 * k),
      0.09666666666666666,
      0.9375145365790558, // asymp 0.9415
    ],
    [
      '100 vs 120',
      range(100, (k) => Math.sqrt(k)),
      range(120, (k) => 0.05 + Math.sqrt(1.2 * k)),
      0.31666666666666665,
      2.4630287788795615e-5, // asymp 2.107e-5: 14 % off
    ],
    ['200 vs 150', range(200, (k) => k), range(150, (k) => 20.5 + k), 0.15, 0.03855214825130296], // asymp 0.0374
    ['3 vs 3 all tied within', [0, 0, 0], [1, 1, 1], 1, 1 / 10], // asymptotic 0.033 before
    ['4 vs 5 with ties across', [1, 1, 2, 3], [2, 2, 3, 4, 4], 1 / 2, 53 / 126],
    ['6 vs 6 with ties', [0, 1, 1, 2, 2, 3], [1, 2, 3, 3, 4, 4], 1 / 2, 61 / 231],
    ['7 vs 5 with ties', [0, 0, 1, 1, 1, 2, 2], [1, 2, 2, 3, 3], 18 / 35, 8 / 33],
  ])('gives the exact p-value for small samples: %s', (_name, a, b, statistic, pValue) => {
    const r = ksTwoSample(a, b);
    expect(r.method).toBe('exact');
    expect(rel(r.statistic, statistic)).toBeLessThan(1e-12);
    expect(rel(r.pValue, pValue)).toBeLessThan(1e-9);
  });

  it.each([
    [
      '5000 vs 4000',
      range(5000, (k) => k),
      range(4000, (k) => 0.3333 + 1.22 * k),
      0.02415,
      0.14733057035558128,
    ],
    [
      '3000 vs 2000',
      range(3000, (k) => Math.sqrt(k)),
      range(2000, (k) => 0.3333 + 1.2 * Math.sqrt(k)),
      0.0285,
      0.28019610444343934, // asymp 0.2786
    ],
  ])(
    'stays exact for large samples without ties when the gap is small: %s',
    (_name, a, b, statistic, pValue) => {
      // n·m is at or above KS_EXACT_LIMIT, but only the band of about 2·D·n·m cells is computed.
      const r = ksTwoSample(a, b);
      expect(r.method).toBe('exact');
      expect(rel(r.statistic, statistic)).toBeLessThan(1e-12);
      expect(rel(r.pValue, pValue)).toBeLessThan(1e-9);
    },
  );

  it('switches to the asymptotic distribution above KS_EXACT_LIMIT', () => {
    // Rounded values tie, so every lattice cell is needed: 4000 · 3000 cells is over the limit.
    const a = normals(21, 4000).map((v) => Math.round(v * 100) / 100);
    const b = normals(22, 3000, 0.05).map((v) => Math.round(v * 100) / 100);
    expect(4000 * 3000).toBeGreaterThan(KS_EXACT_LIMIT);
    const r = ksTwoSample(a, b);
    expect(r.method).toBe('asymptotic');
    const en = Math.sqrt((4000 * 3000) / 7000);
    expect(r.pValue).toBe(kolmogorovSf((en + 0.12 + 0.11 / en) * r.statistic));
    // Without ties but with a gap so wide that the band is too: shifted by 3 standard deviations.
    const far = ksTwoSample(normals(23, 4000), normals(24, 3000, 3));
    expect(far.method).toBe('asymptotic');
    expect(far.pValue).toBeLessThan(1e-100);
  });

  it('rejects empty and non-finite samples naming them', () => {
    expect(() => ksTwoSample([], [1])).toThrow(/a must have at least 1 element/);
    expect(() => ksTwoSample([1], [Number.NaN])).toThrow(/b\[0\] must not be NaN/);
  });
});

describe('quantileBins and histogram', () => {
  it('cuts at the reference deciles with open outer edges', () => {
    const reference = Array.from({ length: 1001 }, (_, i) => i); // 0..1000
    const edges = quantileBins(reference);
    expect(edges).toEqual([
      Number.NEGATIVE_INFINITY,
      100,
      200,
      300,
      400,
      500,
      600,
      700,
      800,
      900,
      Number.POSITIVE_INFINITY,
    ]);
    const counts = histogram(reference, edges);
    expect(counts).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 101]);
    // Values beyond the reference range still land in the outer bins.
    expect(histogram([-5000, 5000], edges)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('interpolates between order statistics and merges repeated quantiles', () => {
    expect(quantileBins([1, 2, 3, 4], 2)).toEqual([Number.NEGATIVE_INFINITY, 2.5, Number.POSITIVE_INFINITY]);
    // Type 7 on 8 values: h = 7k/4 → 1.75, 3.5, 5.25; x[5] + 0.25·(x[6] − x[5]) = 1.25; the two 1s merge.
    expect(quantileBins([1, 1, 1, 1, 1, 1, 2, 3], 4)).toEqual([
      Number.NEGATIVE_INFINITY,
      1,
      1.25,
      Number.POSITIVE_INFINITY,
    ]);
    expect(quantileBins([7, 7, 7], 5)).toEqual([Number.NEGATIVE_INFINITY, 7, Number.POSITIVE_INFINITY]);
  });

  it('counts half-open bins with the last one closed, ignoring values outside', () => {
    expect(histogram([0, 0.5, 1, 1.5, 2, 2.5, -1], [0, 1, 2])).toEqual([2, 3]);
    expect(histogram([], [0, 1])).toEqual([0]);
  });

  it('rejects bad edges, bins and values naming them', () => {
    expect(() => histogram([1], [0, 2, 1])).toThrow(/edges must be strictly increasing \(edges\[2\]\)/);
    expect(() => histogram([1], [0])).toThrow(/edges must have at least 2 elements/);
    expect(() => histogram([Number.NaN], [0, 1])).toThrow(/values\[0\] must not be NaN/);
    expect(() => quantileBins([1, 2], 0)).toThrow(/bins must be a whole number >= 1/);
    expect(() => quantileBins([], 3)).toThrow(/reference must have at least 1 element/);
  });
});

describe('jensenShannonDistance and wassersteinDistance', () => {
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  const range = (n: number, f: (k: number) => number) => Array.from({ length: n }, (_, k) => f(k));

  // References: test/reference/distance_reference.py (scipy.spatial.distance.jensenshannon).
  it.each([
    [[1, 2, 3], [3, 2, 1], 0.29531004717204934, 0.35470351519813204],
    [[0.5, 0.5, 0], [0, 0.1, 0.9], 0.7469797975180145, 0.8972141737096521],
    [[10, 0], [0, 10], 0.8325546111576977, 1],
  ])('gives scipy’s Jensen–Shannon distance for %o vs %o', (p, q, natural, base2) => {
    expect(rel(jensenShannonDistance(p, q), natural)).toBeLessThan(1e-9);
    expect(rel(jensenShannonDistance(p, q, { base: 2 }), base2)).toBeLessThan(1e-9);
    expect(jensenShannonDistance(p, p)).toBe(0);
  });

  // References: scipy.stats.wasserstein_distance, normed by max(np.std(reference), 0.001) as Evidently.
  it.each([
    ['[0,1,3] vs [5,6,8]', [0, 1, 3], [5, 6, 8], 5, 4.0089186286863665],
    ['[1,1,2,5] vs [2,3,3]', [1, 1, 2, 5], [2, 3, 3], 1.4166666666666667, 0.8641585652180932],
    [
      '√k vs 0.3 + 1.1√k',
      range(100, (k) => Math.sqrt(k)),
      range(80, (k) => 0.3 + 1.1 * Math.sqrt(k)),
      0.18385914752245838,
      0.07669673031306484,
    ],
  ])('gives scipy’s Wasserstein distance and Evidently’s normed one: %s', (_name, a, b, distance, normed) => {
    expect(rel(wassersteinDistance(a, b), distance)).toBeLessThan(1e-9);
    expect(rel(wassersteinDistanceNormed(a, b), normed)).toBeLessThan(1e-9);
  });

  it('rejects mismatched or empty input naming it', () => {
    expect(() => jensenShannonDistance([1, 2], [1])).toThrow(/p has 2 bins but q has 1/);
    expect(() => jensenShannonDistance([0, 0], [1, 1])).toThrow(/p must have a positive total/);
    expect(() => wassersteinDistance([], [1])).toThrow(/a must have at least 1 element/);
  });
});
