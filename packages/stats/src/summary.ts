/**
 * Streaming moments. A/B metrics arrive in batches (per look, per shard, per
 * SQL aggregate), so a summary is three numbers that can be built one value at
 * a time (Welford 1962), merged without revisiting data (Chan, Golub & LeVeque
 * 1979), or read from `COUNT`, `SUM` and `SUM(x*x)`.
 */
import { assertCount, assertFinite, assertNonNegative } from './validate';

/** Count, mean and sample variance of a metric: everything the tests in this package need. */
export interface Summary {
  n: number;
  mean: number;
  /** Sample variance (divisor n − 1); 0 when n < 2. */
  variance: number;
}

/** Checks a caller-supplied summary. @internal */
export function assertSummary(summary: Summary, name: string): void {
  if (summary === null || typeof summary !== 'object')
    throw new TypeError(`${name} must be a Summary object`);
  assertCount(summary.n, `${name}.n`);
  assertFinite(summary.mean, `${name}.mean`);
  assertNonNegative(summary.variance, `${name}.variance`);
}

/**
 * Summarises values in one pass (Welford's update), numerically stable even
 * when the mean is large compared with the spread.
 */
export function summarize(values: Iterable<number>): Summary {
  if (values === null || typeof (values as any)?.[Symbol.iterator] !== 'function') {
    throw new TypeError('values must be an iterable of numbers');
  }
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const x of values) {
    assertFinite(x, `values[${n}]`);
    n += 1;
    const delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
  }
  return { n, mean, variance: n < 2 ? 0 : m2 / (n - 1) };
}

/**
 * Combines two summaries as if their values had been summarised together
 * (Chan et al.'s parallel update): per-batch or per-shard summaries add up.
 */
export function mergeSummaries(a: Summary, b: Summary): Summary {
  assertSummary(a, 'a');
  assertSummary(b, 'b');
  const n = a.n + b.n;
  if (a.n === 0) return { ...b, variance: b.n < 2 ? 0 : b.variance };
  if (b.n === 0) return { ...a, variance: a.n < 2 ? 0 : a.variance };
  const delta = b.mean - a.mean;
  const mean = a.mean + (delta * b.n) / n;
  const m2 =
    (a.n < 2 ? 0 : a.variance * (a.n - 1)) +
    (b.n < 2 ? 0 : b.variance * (b.n - 1)) +
    (delta * delta * a.n * b.n) / n;
  return { n, mean, variance: n < 2 ? 0 : m2 / (n - 1) };
}

/**
 * A summary from `COUNT(x)`, `SUM(x)` and `SUM(x * x)`, the aggregates a SQL
 * warehouse returns. The textbook formula cancels badly when the mean is large
 * relative to the spread; the variance is clamped at 0 so rounding cannot make
 * it negative.
 */
export function summaryFromSums(n: number, sum: number, sumOfSquares: number): Summary {
  assertCount(n, 'n');
  assertFinite(sum, 'sum');
  assertNonNegative(sumOfSquares, 'sumOfSquares');
  if (n === 0) {
    if (sum !== 0 || sumOfSquares !== 0) throw new RangeError('sum and sumOfSquares must be 0 when n is 0');
    return { n: 0, mean: 0, variance: 0 };
  }
  const mean = sum / n;
  const m2 = Math.max(0, sumOfSquares - sum * mean);
  return { n, mean, variance: n < 2 ? 0 : m2 / (n - 1) };
}
