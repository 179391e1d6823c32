/**
 * Deterministic variant assignment, bit-compatible with GrowthBook's SDKs
 * (`hash`, `getBucketRanges`, `chooseVariation` in @growthbook/growthbook):
 * a unit hashed here lands in the same variant as in any GrowthBook SDK, so
 * assignments can be computed server-side, in SQL, or in a browser and agree.
 * No randomness and no state: the same (seed, unit) always gives the same
 * variant.
 */
import { assertArray, assertNonNegative, assertNumber } from './validate';

/**
 * FNV-1a, 32-bit, over the string's UTF-16 code units (as GrowthBook does;
 * for non-ASCII text this differs from FNV over UTF-8 bytes).
 * @returns an unsigned 32-bit integer
 */
export function fnv1a32(text: string): number {
  if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${typeof text}`);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Maps (seed, unit id) to [0, 1) exactly like GrowthBook's `hash(seed, value,
 * version)`. Version 2 (default) is unbiased; version 1 is GrowthBook's
 * original, kept for experiments that started with it.
 */
export function hashToUnit(seed: string, value: string, version: 1 | 2 = 2): number {
  if (typeof seed !== 'string') throw new TypeError(`seed must be a string, got ${typeof seed}`);
  if (typeof value !== 'string') throw new TypeError(`value must be a string, got ${typeof value}`);
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  throw new RangeError(`version must be 1 or 2, got ${String(version)}`);
}

function assertCoverage(coverage: number): void {
  assertNumber(coverage, 'coverage');
  if (coverage < 0 || coverage > 1) throw new RangeError(`coverage must be between 0 and 1, got ${coverage}`);
}

/**
 * The [start, end) slice of [0, 1) that each variant owns, as GrowthBook's
 * `getBucketRanges`: variant i starts where the previous weights end and
 * covers `coverage` of its weight, so lowering coverage drops units from the
 * experiment without moving anyone to another variant.
 *
 * Weights that add up to 1 (within GrowthBook's ±0.01) are used as given, so
 * the ranges are bit-identical to GrowthBook's; other positive totals (such as
 * `[50, 50]`) are normalised, where GrowthBook would fall back to equal weights.
 */
export function bucketRanges(weights: readonly number[], coverage = 1): Array<[number, number]> {
  assertArray(weights, 'weights');
  weights.forEach((w, i) => {
    assertNonNegative(w, `weights[${i}]`);
  });
  assertCoverage(coverage);
  const total = weights.reduce((s, w) => s + w, 0);
  if (!(total > 0)) throw new RangeError('weights must sum to > 0');
  // Divide rather than multiply by 1/total: [35, 65] must give exactly 0.35, as GrowthBook's [0.35, 0.65] does.
  const asGiven = total >= 0.99 && total <= 1.01;
  let cumulative = 0;
  return weights.map((weight) => {
    const w = asGiven ? weight : weight / total;
    const start = cumulative;
    cumulative += w;
    return [start, start + coverage * w];
  });
}

/**
 * The index of the range containing `n` (start inclusive, end exclusive), as
 * GrowthBook's `chooseVariation`.
 * @returns -1 when `n` is in no range (outside coverage)
 */
export function chooseBucket(n: number, ranges: ReadonlyArray<readonly [number, number]>): number {
  assertNumber(n, 'n');
  if (!Array.isArray(ranges)) throw new TypeError('ranges must be an array of [start, end] pairs');
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    if (n >= range[0] && n < range[1]) return i;
  }
  return -1;
}

/** Options of `assignVariant`. */
export interface AssignOptions {
  /** Fraction of units in the experiment. @default 1 */
  coverage?: number;
  /** GrowthBook hash version. @default 2 */
  hashVersion?: 1 | 2;
}

/**
 * The variant of one unit: what a GrowthBook SDK would choose for an
 * experiment whose seed (GrowthBook: `seed`, else the experiment key) is
 * `seed`, with these weights and coverage.
 * @returns the variant index, or -1 when the unit is outside coverage
 */
export function assignVariant(
  seed: string,
  unitId: string,
  weights: readonly number[],
  options?: AssignOptions,
): number {
  const ranges = bucketRanges(weights, options?.coverage ?? 1);
  return chooseBucket(hashToUnit(seed, unitId, options?.hashVersion ?? 2), ranges);
}
