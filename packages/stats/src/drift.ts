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
  /** Floor for a bin's share, so that an empty bin gives a large but finite term. @default 1e-4 */
  epsilon?: number;
}

function shares(counts: readonly number[], name: string, epsilon: number): number[] {
  counts.forEach((c, i) => {
    assertNonNegative(c, `${name}[${i}]`);
  });
  const total = counts.reduce((s, c) => s + c, 0);
  if (!(total > 0)) throw new RangeError(`${name} must have a positive total count`);
  return counts.map((c) => Math.max(c / total, epsilon));
}

/**
 * Population Stability Index Σ (a − e)·ln(a / e) over bin shares: 0 for
 * identical distributions; by the usual rule of thumb < 0.1 is stable,
 * 0.1–0.25 a moderate shift and > 0.25 a major one.
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
 * The two-sample Kolmogorov–Smirnov test: the largest gap between the two
 * empirical CDFs, and its p-value from the asymptotic Kolmogorov
 * distribution at λ = (√N + 0.12 + 0.11/√N)·D with N = nm/(n+m) (Stephens'
 * small-sample correction, as in Numerical Recipes `kstwo`). Distribution-free,
 * so it suits any numeric feature.
 */
export function ksTwoSample(
  a: readonly number[],
  b: readonly number[],
): { statistic: number; pValue: number } {
  const x = sortedCopy(a, 'a');
  const y = sortedCopy(b, 'b');
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  let statistic = 0;
  while (i < n && j < m) {
    // Step past every copy of the smaller value in both samples, so ties
    // move both CDFs together.
    const v = Math.min(x[i]!, y[j]!);
    while (i < n && x[i]! === v) i++;
    while (j < m && y[j]! === v) j++;
    statistic = Math.max(statistic, Math.abs(i / n - j / m));
  }
  const en = Math.sqrt((n * m) / (n + m));
  return { statistic, pValue: kolmogorovSf((en + 0.12 + 0.11 / en) * statistic) };
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
