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

/** A GrowthBook namespace: its id and the [start, end) slice of [0, 1) an experiment owns in it. */
export type Namespace = readonly [id: string, start: number, end: number];

/**
 * Whether a unit falls in an experiment's slice of a namespace, exactly as
 * GrowthBook's `inNamespace`: the unit is hashed with seed `"__" + id` and
 * hash version 1, so experiments that share a namespace with disjoint slices
 * never share a unit.
 */
export function inNamespace(unitId: string, namespace: Namespace): boolean {
  if (!Array.isArray(namespace) || namespace.length !== 3 || typeof namespace[0] !== 'string') {
    throw new TypeError('namespace must be [id, start, end]');
  }
  assertNumber(namespace[1], 'namespace[1]');
  assertNumber(namespace[2], 'namespace[2]');
  const n = hashToUnit(`__${namespace[0]}`, unitId, 1);
  return n >= namespace[1] && n < namespace[2];
}

/** Options of `inRollout`: a feature rule's `coverage` or `range`, and its hash version. */
export interface RolloutOptions {
  /** Share of units included, 0–1 (GrowthBook compares n ≤ coverage). @default undefined: everyone */
  coverage?: number;
  /** The [start, end) slice of [0, 1) included; takes precedence over coverage. */
  range?: readonly [number, number];
  /** GrowthBook hash version; feature rules default to 1. @default 1 */
  hashVersion?: 1 | 2;
}

/**
 * Whether a unit is in a percentage rollout, exactly as GrowthBook's feature
 * rules decide it (`isIncludedInRollout`): no coverage and no range includes
 * everyone, coverage 0 nobody; otherwise the unit's hash of (seed, unit id) —
 * GrowthBook's seed is the rule's `seed`, else the feature key — must be in
 * `range`, or ≤ `coverage`. Raising coverage only adds units.
 */
export function inRollout(seed: string, unitId: string, options: RolloutOptions = {}): boolean {
  const { coverage, range } = options;
  if (range !== undefined) {
    if (!Array.isArray(range) || range.length !== 2)
      throw new TypeError('options.range must be [start, end]');
    assertNumber(range[0], 'options.range[0]');
    assertNumber(range[1], 'options.range[1]');
  }
  if (coverage !== undefined) assertCoverage(coverage);
  if (range === undefined && coverage === undefined) return true;
  if (range === undefined && coverage === 0) return false;
  const n = hashToUnit(seed, unitId, options.hashVersion ?? 1);
  return range !== undefined ? n >= range[0] && n < range[1] : n <= coverage!;
}
