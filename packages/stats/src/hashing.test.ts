import { GrowthBook } from '@growthbook/growthbook';
import { describe, expect, it } from 'vitest';
import {
  assignVariant,
  bucketRanges,
  chooseBucket,
  fnv1a32,
  hashToUnit,
  inNamespace,
  inRollout,
} from './hashing';
import { mulberry32 } from './random';

// @growthbook/growthbook does not export `hash`, `getBucketRanges` or
// `chooseVariation` from its entry point, so the cross-checks go through the
// public API: `GrowthBook#run` returns the unit's hash as `bucket` and its
// variant as `variationId`.
function growthBookRun(
  id: string,
  key: string,
  weights: number[],
  coverage: number,
  hashVersion: 1 | 2,
): { bucket: number | undefined; variant: number } {
  const result = new GrowthBook({ attributes: { id } }).run({
    key,
    variations: weights.map((_, i) => i) as [number, number, ...number[]],
    weights,
    coverage,
    hashVersion,
  });
  return { bucket: result.bucket, variant: result.inExperiment ? result.variationId : -1 };
}

function ids(count: number): string[] {
  const random = mulberry32(31337);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) out.push(`user-${i}`);
    else if (i % 3 === 1)
      out.push(Math.floor(random() * 2 ** 52).toString(36) + Math.floor(random() * 1e9).toString(16));
    else out.push(`${i}-é-名前-${Math.floor(random() * 1e6)}`); // non-ASCII: UTF-16 code units matter
  }
  return out;
}

const SEEDS = ['checkout-button', 'exp1', 'new-pricing-2026', 'ß∂ƒ-seed'];

describe('fnv1a32', () => {
  it('matches the FNV-1a reference test vectors', () => {
    // From the FNV reference test suite (Fowler/Noll/Vo): FNV1A_32 of "", "a", "foobar".
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });
});

describe('hashToUnit', () => {
  it.each([1, 2] as const)(
    'equals GrowthBook’s hash (version %i) for 10,000 ids and several seeds',
    (version) => {
      const all = ids(10_000);
      for (const seed of SEEDS) {
        let compared = 0;
        for (const id of all) {
          // Two equal variations with full coverage: every unit is in, so `bucket` is always the hash.
          const { bucket } = growthBookRun(id, seed, [0.5, 0.5], 1, version);
          expect(hashToUnit(seed, id, version)).toBe(bucket);
          compared += 1;
        }
        expect(compared).toBe(10_000);
      }
    },
  );

  it('defaults to version 2 and stays in [0, 1)', () => {
    expect(hashToUnit('s', 'u')).toBe(hashToUnit('s', 'u', 2));
    expect(hashToUnit('s', 'u')).not.toBe(hashToUnit('s', 'u', 1));
    for (const id of ids(1000)) {
      const h = hashToUnit('seed', id);
      expect(h >= 0 && h < 1).toBe(true);
    }
  });
});

describe('assignVariant', () => {
  const configs: Array<{ weights: number[]; coverage: number; hashVersion: 1 | 2 }> = [
    { weights: [0.5, 0.5], coverage: 1, hashVersion: 2 },
    { weights: [0.2, 0.3, 0.5], coverage: 0.8, hashVersion: 2 },
    { weights: [0.1, 0.9], coverage: 0.35, hashVersion: 2 },
    { weights: [0.34, 0.33, 0.33], coverage: 1, hashVersion: 1 },
    { weights: [0.25, 0.25, 0.25, 0.25], coverage: 0.5, hashVersion: 1 },
  ];

  it.each(configs)(
    'equals GrowthBook’s variant for 10,000 ids (%o)',
    ({ weights, coverage, hashVersion }) => {
      const all = ids(10_000);
      const seen = new Set<number>();
      for (const seed of SEEDS) {
        for (const id of all) {
          const mine = assignVariant(seed, id, weights, { coverage, hashVersion });
          expect(mine).toBe(growthBookRun(id, seed, weights, coverage, hashVersion).variant);
          seen.add(mine);
        }
      }
      // Every variant (and, below full coverage, "not in the experiment") actually occurred.
      expect(seen.size).toBe(weights.length + (coverage < 1 ? 1 : 0));
    },
  );

  it('splits 100,000 ids within 1% of the weights', () => {
    const weights = [0.2, 0.3, 0.5];
    const counts = [0, 0, 0];
    const n = 100_000;
    for (let i = 0; i < n; i++) counts[assignVariant('split-check', `id-${i}`, weights)]! += 1;
    counts.forEach((count, i) => {
      expect(Math.abs(count / n - weights[i]!)).toBeLessThan(0.01);
    });
    let excluded = 0;
    for (let i = 0; i < n; i++)
      if (assignVariant('split-check', `id-${i}`, weights, { coverage: 0.6 }) === -1) excluded += 1;
    expect(Math.abs(excluded / n - 0.4)).toBeLessThan(0.01);
  });

  it('never moves a unit to another variant when coverage changes', () => {
    for (const id of ids(5000)) {
      const full = assignVariant('ramp', id, [0.5, 0.5]);
      const partial = assignVariant('ramp', id, [0.5, 0.5], { coverage: 0.3 });
      if (partial !== -1) expect(partial).toBe(full);
    }
  });
});

describe('bucketRanges and chooseBucket', () => {
  it('lay variants side by side, each covering `coverage` of its weight', () => {
    expect(bucketRanges([0.5, 0.5])).toEqual([
      [0, 0.5],
      [0.5, 1],
    ]);
    // Binary-exact weights, so the float sums are exact too.
    expect(bucketRanges([0.25, 0.75], 0.5)).toEqual([
      [0, 0.125],
      [0.25, 0.625],
    ]);
    // Totals far from 1 are normalised.
    expect(bucketRanges([50, 50])).toEqual(bucketRanges([0.5, 0.5]));
    // Percent weights give the same edges as the fractions GrowthBook is given (no 0.35000000000000003).
    for (let p = 1; p < 100; p++) expect(bucketRanges([p, 100 - p])[0]![1]).toBe(p / 100);
    expect(bucketRanges([1, 3])).toEqual([
      [0, 0.25],
      [0.25, 1],
    ]);
  });

  it('choose with start inclusive, end exclusive, and -1 outside', () => {
    const ranges = bucketRanges([0.25, 0.75], 0.5);
    expect(chooseBucket(0, ranges)).toBe(0);
    expect(chooseBucket(0.125, ranges)).toBe(-1);
    expect(chooseBucket(0.25, ranges)).toBe(1);
    expect(chooseBucket(0.625, ranges)).toBe(-1);
    expect(chooseBucket(0.6249, ranges)).toBe(1);
    expect(chooseBucket(0.5, bucketRanges([0.5, 0.5]))).toBe(1);
  });

  it('reject invalid weights, coverage and versions naming them', () => {
    expect(() => bucketRanges([0, 0])).toThrow(/weights must sum to > 0/);
    expect(() => bucketRanges([0.5, -0.5])).toThrow(/weights\[1\] must be >= 0/);
    expect(() => bucketRanges([0.5, Number.NaN])).toThrow(/weights\[1\] must not be NaN/);
    expect(() => bucketRanges([])).toThrow(/weights must have at least 1 element/);
    expect(() => bucketRanges([1], 1.5)).toThrow(/coverage must be between 0 and 1/);
    expect(() => assignVariant('s', 'u', [1], { coverage: -0.1 })).toThrow(/coverage/);
    expect(() => hashToUnit('s', 'u', 3 as any)).toThrow(/version must be 1 or 2/);
    expect(() => hashToUnit('s', 42 as any)).toThrow(/value must be a string/);
  });
});

describe('inNamespace and inRollout', () => {
  const units = ids(10_000);

  it('agree with the GrowthBook SDK on 10,000 ids: namespaces of experiments', () => {
    const namespace = ['checkout', 0.2, 0.65] as const;
    let inside = 0;
    for (const id of units) {
      const result = new GrowthBook({ attributes: { id } }).run({
        key: 'ns-experiment',
        variations: [0, 1],
        namespace: [...namespace],
      });
      expect(inNamespace(id, namespace), id).toBe(result.inExperiment);
      if (result.inExperiment) inside += 1;
    }
    // The slice holds 45 % of units.
    expect(inside).toBeGreaterThan(4300);
    expect(inside).toBeLessThan(4700);
  });

  it.each([
    { coverage: 0.3, hashVersion: 1 as const },
    { coverage: 0.3, hashVersion: 2 as const },
    { range: [0.4, 0.7] as [number, number], hashVersion: 2 as const },
    { coverage: 0 },
    {},
  ])('agree with the GrowthBook SDK on 10,000 ids: feature rollout %o', (rule) => {
    const features = {
      flag: { defaultValue: false, rules: [{ force: true, seed: 'rollout-seed', ...rule }] },
    };
    for (const id of units) {
      const sdk = new GrowthBook({ attributes: { id }, features }).isOn('flag');
      expect(inRollout('rollout-seed', id, rule), id).toBe(sdk);
    }
  });

  it('rejects malformed namespaces and rollouts', () => {
    expect(() => inNamespace('u', ['a', 0] as never)).toThrow(/namespace must be \[id, start, end\]/);
    expect(() => inRollout('s', 'u', { coverage: 2 })).toThrow(/coverage must be between 0 and 1/);
  });
});
