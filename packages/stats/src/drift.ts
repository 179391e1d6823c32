/**
 * Data drift measures for monitoring a deployed model: is today's input (or
 * prediction) distribution still the one it was trained on? Bin a reference
 * sample with `quantileBins`, count both samples with `histogram`, and compare
 * the counts with `populationStabilityIndex`; or compare raw samples with
 * `ksTwoSample`.
 */
import { kolmogorovSf } from './distributions';
import { assertArray, assertFinite, assertNonNegative, assertNumber, assertPositive } from './validate';

/** Options of `populationStabilityIndex`. */
export interface PsiOptions {
  /**
   * The share given to an empty bin, so that it adds a large but finite term
   * (see `populationStabilityIndex` for the rule). @default 1e-4
   */
  epsilon?: number;
}

/**
 * Bin shares with empty bins filled: an empty bin gets `epsilon`, or the
 * smallest non-empty share / 10⁶ when that share is ≤ epsilon, so a filled
 * bin never outweighs a real one (Evidently's rule). Non-empty bins keep
 * their share, however small.
 */
function shares(counts: readonly number[], name: string, epsilon: number): number[] {
  counts.forEach((c, i) => {
    assertNonNegative(c, `${name}[${i}]`);
  });
  const total = counts.reduce((s, c) => s + c, 0);
  if (!(total > 0)) throw new RangeError(`${name} must have a positive total count`);
  const raw = counts.map((c) => c / total);
  let smallest = Number.POSITIVE_INFINITY;
  for (const share of raw) if (share > 0 && share < smallest) smallest = share;
  const fill = smallest <= epsilon ? smallest / 1e6 : epsilon;
  return raw.map((share) => (share > 0 ? share : fill));
}

/**
 * Population Stability Index Σ (a − e)·ln(a / e) over bin shares: 0 for
 * identical distributions; by the usual rule of thumb < 0.1 is stable,
 * 0.1–0.25 a moderate shift and > 0.25 a major one. Only empty bins are
 * filled (with `epsilon`, or the smallest real share / 10⁶ when that is
 * smaller, as Evidently does); a rare but present bin keeps its share, so a
 * move from 1 in 100,000 to 50 in 100,000 counts in full.
 * @param expected counts per bin of the reference sample
 * @param actual counts per bin of the new sample, same bins
 */
export function populationStabilityIndex(
  expected: readonly number[],
  actual: readonly number[],
  options?: PsiOptions,
): number {
  assertArray(expected, 'expected');
  assertArray(actual, 'actual');
  if (expected.length !== actual.length) {
    throw new RangeError(`expected has ${expected.length} bins but actual has ${actual.length}`);
  }
  const epsilon = options?.epsilon ?? 1e-4;
  assertPositive(epsilon, 'options.epsilon');
  if (epsilon >= 1) throw new RangeError(`options.epsilon must be < 1, got ${epsilon}`);
  const e = shares(expected, 'expected', epsilon);
  const a = shares(actual, 'actual', epsilon);
  let psi = 0;
  for (let i = 0; i < e.length; i++) psi += (a[i]! - e[i]!) * Math.log(a[i]! / e[i]!);
  return psi;
}

function sortedCopy(values: readonly number[], name: string): Float64Array {
  assertArray(values, name);
  const out = new Float64Array(values.length);
  values.forEach((v, i) => {
    assertFinite(v, `${name}[${i}]`);
    out[i] = v;
  });
  return out.sort();
}

/**
 * Work limit of the exact KS p-value, in lattice cells (about 20 ms per 10⁶).
 * Without ties only the band of cells inside |i·m − j·n| < D·n·m is visited,
 * about 2·D·n·m cells, so the exact p-value reaches samples of many thousands
 * when D is small (the case where the asymptotic one is least accurate). With
 * ties every cell is visited, so n·m must stay under the limit.
 */
export const KS_EXACT_LIMIT = 10_000_000;

/** The outcome of `ksTwoSample`. */
export interface KsResult {
  /** D, the largest gap between the two empirical CDFs. */
  statistic: number;
  pValue: number;
  /** `exact` within KS_EXACT_LIMIT, `asymptotic` above. */
  method: 'exact' | 'asymptotic';
}

/**
 * The two-sample Kolmogorov–Smirnov test: the largest gap D between the two
 * empirical CDFs, and its two-sided p-value P(D' ≥ D) under "both samples
 * come from one distribution".
 *
 * Within KS_EXACT_LIMIT the p-value is exact: the share of the
 * C(n+m, n) equally likely ways to split the pooled sample whose D' reaches
 * D, counted by a lattice-path recursion (Hodges 1957; what scipy's
 * `ks_2samp(method='exact')` computes). With ties the gap is only looked at
 * between distinct pooled values, so the p-value is the exact permutation
 * p-value given the ties (scipy ignores ties there and is conservative).
 * Above the limit it uses the asymptotic Kolmogorov distribution at
 * λ = (√N + 0.12 + 0.11/√N)·D, N = nm/(n+m) (Stephens' correction, as in
 * Numerical Recipes `kstwo`), which is 1–10 % off at n ≈ 50–200 and far off
 * for a handful of values. Distribution-free, so it suits any numeric feature.
 */
export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  const x = sortedCopy(a, 'a');
  const y = sortedCopy(b, 'b');
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  // D·n·m as a whole number, so the recursion compares integers, not rounded fractions.
  let gap = 0;
  while (i < n && j < m) {
    // Step past every copy of the smaller value in both samples, so ties
    // move both CDFs together.
    const v = Math.min(x[i]!, y[j]!);
    while (i < n && x[i]! === v) i++;
    while (j < m && y[j]! === v) j++;
    gap = Math.max(gap, Math.abs(i * m - j * n));
  }
  const statistic = gap / (n * m);
  const exact = ksExactPValue(x, y, gap);
  if (exact !== undefined) return { statistic, pValue: exact, method: 'exact' };
  const en = Math.sqrt((n * m) / (n + m));
  return { statistic, pValue: kolmogorovSf((en + 0.12 + 0.11 / en) * statistic), method: 'asymptotic' };
}

/**
 * P(a random split of the pooled sample has |i·m − j·n| ≥ gap at some cut
 * between distinct values), or undefined when that costs more than
 * KS_EXACT_LIMIT cells. v(i, j) is the probability that a uniformly random
 * path from (0, 0) to (i, j) has been outside the band; its weights i/(i+j)
 * and j/(i+j) sum to 1, so the small p-values of large shifts keep their
 * relative precision (no 1 − inside).
 */
function ksExactPValue(x: Float64Array, y: Float64Array, gap: number): number | undefined {
  const n = x.length;
  const m = y.length;
  if (gap === 0) return 1;
  // cut[k]: the first k pooled values are all smaller than the rest (a place a CDF gap can be read).
  const pooled = new Float64Array(n + m);
  pooled.set(x);
  pooled.set(y, n);
  pooled.sort();
  const cut = new Uint8Array(n + m + 1);
  cut[n + m] = 1;
  let ties = false;
  for (let k = 1; k < n + m; k++) {
    if (pooled[k - 1]! < pooled[k]!) cut[k] = 1;
    else ties = true;
  }
  if (!ties) {
    if ((n + 1) * ((2 * gap) / n + 2) > KS_EXACT_LIMIT) return undefined;
    return ksExactBand(n, m, gap);
  }
  if (n * m > KS_EXACT_LIMIT) return undefined;
  // Row i of v over j = 0..m, updated in place.
  const v = new Float64Array(m + 1);
  for (let jj = 1; jj <= m; jj++) v[jj] = cut[jj] && jj * n >= gap ? 1 : v[jj - 1]!;
  for (let ii = 1; ii <= n; ii++) {
    v[0] = cut[ii] && ii * m >= gap ? 1 : v[0]!;
    for (let jj = 1; jj <= m; jj++) {
      if (cut[ii + jj] && Math.abs(ii * m - jj * n) >= gap) v[jj] = 1;
      else v[jj] = (v[jj]! * ii + v[jj - 1]! * jj) / (ii + jj);
    }
  }
  return Math.min(1, v[m]!);
}

/**
 * The same recursion without ties: every cell is a cut, so every cell outside
 * the band |i·m − j·n| < gap is 1 and only the band is computed. Row i's band
 * is j from ⌊(i·m − gap)/n⌋ + 1 to ⌈(i·m + gap)/n⌉ − 1; both ends only move
 * right, so cells left behind are never read again.
 */
function ksExactBand(n: number, m: number, gap: number): number {
  const v = new Float64Array(m + 1).fill(1);
  const lowOf = (i: number) => Math.max(0, Math.floor((i * m - gap) / n) + 1);
  const highOf = (i: number) => Math.min(m, Math.ceil((i * m + gap) / n) - 1);
  let previousLow = 0;
  let previousHigh = highOf(0);
  for (let j = 0; j <= previousHigh; j++) v[j] = 0;
  for (let i = 1; i <= n; i++) {
    const low = lowOf(i);
    const high = highOf(i);
    for (let j = low; j <= high; j++) {
      const up = j >= previousLow && j <= previousHigh ? v[j]! : 1;
      const left = j > low ? v[j - 1]! : 1;
      v[j] = (up * i + left * j) / (i + j);
    }
    previousLow = low;
    previousHigh = high;
  }
  return Math.min(1, v[m]!);
}

/**
 * Bin edges at the reference sample's quantiles (linear interpolation, R's
 * type 7), so each bin holds about the same share of the reference. The outer
 * edges are −∞ and +∞, so new data outside the reference's range still lands
 * in a bin (and shows up as drift); repeated quantiles (discrete data) are
 * merged, so fewer than `bins` bins may come back.
 * @returns strictly increasing edges, `bins + 1` of them at most
 */
export function quantileBins(reference: readonly number[], bins = 10): number[] {
  const sorted = sortedCopy(reference, 'reference');
  assertNumber(bins, 'bins');
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`bins must be a whole number >= 1, got ${bins}`);
  const edges = [Number.NEGATIVE_INFINITY];
  for (let k = 1; k < bins; k++) {
    const h = ((sorted.length - 1) * k) / bins;
    const lo = Math.floor(h);
    const q = sorted[lo]! + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? 0) - sorted[lo]!);
    if (q > edges[edges.length - 1]!) edges.push(q);
  }
  edges.push(Number.POSITIVE_INFINITY);
  return edges;
}

/**
 * Counts per bin: bin i holds edges[i] ≤ v < edges[i+1], the last bin also
 * holds v = its upper edge; values outside every bin are not counted.
 * @returns `edges.length − 1` counts
 */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  assertArray(values, 'values', 0);
  assertArray(edges, 'edges', 2);
  edges.forEach((e, i) => {
    assertNumber(e, `edges[${i}]`);
    if (i > 0 && !(e > edges[i - 1]!))
      throw new RangeError(`edges must be strictly increasing (edges[${i}])`);
  });
  const counts = new Array<number>(edges.length - 1).fill(0);
  const last = edges.length - 1;
  values.forEach((v, i) => {
    assertNumber(v, `values[${i}]`);
    if (v < edges[0]! || v > edges[last]!) return;
    if (v === edges[last]) {
      counts[last - 1]! += 1;
      return;
    }
    // Largest i with edges[i] ≤ v.
    let lo = 0;
    let hi = last;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid]! <= v) lo = mid;
      else hi = mid;
    }
    counts[lo]! += 1;
  });
  return counts;
}

/** Options of `jensenShannonDistance`. */
export interface JensenShannonOptions {
  /** Base of the logarithm: e (natural, as scipy and Evidently) or 2 (the distance is then at most 1). @default Math.E */
  base?: number;
}

/**
 * The Jensen–Shannon distance √(JS divergence) between two binned
 * distributions, as scipy's `distance.jensenshannon`: counts or shares are
 * normalised to sum to 1, M = (P + Q)/2, and the distance is
 * √((KL(P‖M) + KL(Q‖M)) / 2). Symmetric, finite with empty bins (no floor
 * needed, unlike PSI), 0 for identical distributions and at most √ln 2
 * (natural log) for disjoint ones. Evidently flags drift at ≥ 0.1.
 */
export function jensenShannonDistance(
  p: readonly number[],
  q: readonly number[],
  options?: JensenShannonOptions,
): number {
  assertArray(p, 'p');
  assertArray(q, 'q');
  if (p.length !== q.length) throw new RangeError(`p has ${p.length} bins but q has ${q.length}`);
  const base = options?.base ?? Math.E;
  assertPositive(base, 'options.base');
  if (base === 1) throw new RangeError('options.base must not be 1');
  const normalise = (values: readonly number[], name: string) => {
    values.forEach((v, i) => {
      assertNonNegative(v, `${name}[${i}]`);
    });
    const total = values.reduce((s, v) => s + v, 0);
    if (!(total > 0)) throw new RangeError(`${name} must have a positive total`);
    return values.map((v) => v / total);
  };
  const pp = normalise(p, 'p');
  const qq = normalise(q, 'q');
  let divergence = 0;
  for (let i = 0; i < pp.length; i++) {
    const m = (pp[i]! + qq[i]!) / 2;
    // x·ln(x/m), with 0·ln 0 = 0 (scipy's rel_entr).
    if (pp[i]! > 0) divergence += pp[i]! * Math.log(pp[i]! / m);
    if (qq[i]! > 0) divergence += qq[i]! * Math.log(qq[i]! / m);
  }
  // Rounding can leave a tiny negative sum for identical inputs.
  return Math.sqrt(Math.max(0, divergence / 2) / Math.log(base));
}

/**
 * The first Wasserstein (earth mover's) distance between two samples'
 * empirical distributions, ∫ |F_a(x) − F_b(x)| dx, as scipy's
 * `stats.wasserstein_distance`: in the samples' own units.
 */
export function wassersteinDistance(a: readonly number[], b: readonly number[]): number {
  const x = sortedCopy(a, 'a');
  const y = sortedCopy(b, 'b');
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  let distance = 0;
  let previous = Math.min(x[0]!, y[0]!);
  while (i < n || j < m) {
    const v = j >= m || (i < n && x[i]! <= y[j]!) ? x[i]! : y[j]!;
    // Between the previous value and v both CDFs are flat.
    distance += Math.abs(i / n - j / m) * (v - previous);
    while (i < n && x[i]! === v) i++;
    while (j < m && y[j]! === v) j++;
    previous = v;
  }
  return distance;
}

/**
 * The Wasserstein distance divided by the reference sample's standard
 * deviation (population sd, floored at 0.001), as Evidently's default drift
 * measure for numeric columns with more than 1,000 reference values: "how
 * many reference standard deviations the mass had to move". Evidently flags
 * drift at ≥ 0.1.
 */
export function wassersteinDistanceNormed(reference: readonly number[], current: readonly number[]): number {
  const distance = wassersteinDistance(reference, current);
  let mean = 0;
  for (const v of reference) mean += v;
  mean /= reference.length;
  let squares = 0;
  for (const v of reference) squares += (v - mean) * (v - mean);
  return distance / Math.max(Math.sqrt(squares / reference.length), 0.001);
}
