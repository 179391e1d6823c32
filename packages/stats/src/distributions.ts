/**
 * Distribution functions the tests, Bayesian comparisons and drift measures
 * are built on. They are written out here (no dependency) because p-values
 * near 0 decide launches: each function keeps relative accuracy in the tails
 * (upper tails are computed directly, never as 1 − lower tail).
 *
 * The special functions follow Numerical Recipes (3rd ed., §6.1–6.4): Lanczos
 * log-gamma, the incomplete gamma by series / continued fraction and the
 * incomplete beta by continued fraction, each evaluated with the modified
 * Lentz method to double precision.
 */
import { assertFinite, assertNumber, assertPositive } from './validate';

const EPSILON = 2.220446049250313e-16; // Number.EPSILON: a tighter test may never pass and run to MAX_ITERATIONS
const TINY = 1e-300;
const MAX_ITERATIONS = 100_000;
const LN_SQRT_2PI = 0.9189385332046728; // ln √(2π)
const SQRT_2PI = 2.5066282746310002;

// Lanczos approximation, g = 7, n = 9 (Godfrey's coefficients): ≈15 digits.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/**
 * ln Γ(x) for x > 0. Needed wherever a probability is a ratio of huge
 * factorials (Beta posteriors, incomplete beta/gamma), which overflow unless
 * kept in log space.
 */
export function logGamma(x: number): number {
  assertPositive(x, 'x');
  if (x === Number.POSITIVE_INFINITY) return x;
  // Reflection keeps the Lanczos series in its accurate range.
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return LN_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Stirling's correction ln Γ(z) − [(z − ½) ln z − z + ½ ln 2π], for z ≥ 100. */
function stirlingCorrection(z: number): number {
  const z2 = z * z;
  return (1 / 12 - (1 / 360 - 1 / (1260 * z2)) / z2) / z;
}

/**
 * ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b). When one argument is large,
 * ln Γ(a + b) − ln Γ(a) is a small difference of huge numbers (ln Γ(10⁷) ≈
 * 1.5·10⁸), so it is taken from Stirling's series directly instead; this
 * keeps Student t with millions of degrees of freedom and Beta posteriors of
 * large experiments accurate.
 * @internal
 */
export function logBeta(a: number, b: number): number {
  const big = Math.max(a, b);
  const small = Math.min(a, b);
  if (big < 100) return logGamma(a) + logGamma(b) - logGamma(a + b);
  const sum = big + small;
  // ln Γ(big + small) − ln Γ(big) from the two Stirling expansions.
  const growth =
    (big - 0.5) * Math.log1p(small / big) +
    small * Math.log(sum) -
    small +
    stirlingCorrection(sum) -
    stirlingCorrection(big);
  return logGamma(small) - growth;
}

function checkGammaArgs(a: number, x: number): void {
  assertPositive(a, 'a');
  assertFinite(a, 'a');
  assertNumber(x, 'x');
  if (x < 0) throw new RangeError(`x must be >= 0, got ${x}`);
}

/** Series for P(a, x), converging fast when x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let ap = a;
  let term = 1 / a;
  let sum = term;
  for (let i = 0; i < MAX_ITERATIONS; i++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Continued fraction for Q(a, x), converging fast when x ≥ a + 1. */
function gammaQContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/**
 * The regularized lower incomplete gamma P(a, x) = γ(a, x) / Γ(a): the CDF of
 * a Gamma(a, 1) variable, and of χ² with 2a degrees of freedom at 2x.
 */
export function regularizedGammaP(a: number, x: number): number {
  checkGammaArgs(a, x);
  if (x === 0) return 0;
  if (x === Number.POSITIVE_INFINITY) return 1;
  return x < a + 1 ? gammaPSeries(a, x) : 1 - gammaQContinuedFraction(a, x);
}

/**
 * The regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), computed
 * directly so that small upper tails (χ² p-values) keep their precision.
 */
export function regularizedGammaQ(a: number, x: number): number {
  checkGammaArgs(a, x);
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQContinuedFraction(a, x);
}

/** Continued fraction for I_x(a, b) (Numerical Recipes `betacf`). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return h;
}

/**
 * The regularized incomplete beta I_x(a, b): the CDF of Beta(a, b) at x, and
 * the building block of the Student t and binomial tails.
 */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  assertNumber(x, 'x');
  if (x < 0 || x > 1) throw new RangeError(`x must be between 0 and 1, got ${x}`);
  assertPositive(a, 'a');
  assertFinite(a, 'a');
  assertPositive(b, 'b');
  assertFinite(b, 'b');
  if (x === 0) return 0;
  if (x === 1) return 1;
  return incompleteBeta(x, 1 - x, a, b);
}

/**
 * I_x(a, b) given both x and y = 1 − x, so that a caller who knows the small
 * one exactly (Student t: y = t²/(ν + t²)) does not lose it to rounding in
 * 1 − x; with a in the millions, a·ln x would otherwise amplify that rounding.
 */
function incompleteBeta(x: number, y: number, a: number, b: number): number {
  const logX = x > 0.5 ? Math.log1p(-y) : Math.log(x);
  const logY = y > 0.5 ? Math.log1p(-x) : Math.log(y);
  const front = Math.exp(a * logX + b * logY - logBeta(a, b));
  // The fraction converges fast only on one side of the mean; use the
  // symmetry I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(y, b, a)) / b;
}

/** The standard normal density φ(z). */
export function normalPdf(z: number): number {
  assertNumber(z, 'z');
  return Math.exp(-0.5 * z * z) / SQRT_2PI;
}

/**
 * The standard normal CDF Φ(z), through erfc (Φ(z) = ½·Q(½, z²/2) for z < 0),
 * so that both tails keep ≈1e-15 relative accuracy — z-test p-values and
 * normal approximations depend on it.
 */
export function normalCdf(z: number): number {
  assertNumber(z, 'z');
  if (z === 0) return 0.5;
  const tail = 0.5 * regularizedGammaQ(0.5, 0.5 * z * z);
  return z < 0 ? tail : 1 - tail;
}

// Acklam's rational approximation of Φ⁻¹ (relative error < 1.15e-9).
const ACKLAM_A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const ACKLAM_B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
];
const ACKLAM_C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

function acklamLower(p: number): number {
  const [a0, a1, a2, a3, a4, a5] = ACKLAM_A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = ACKLAM_B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = ACKLAM_C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = ACKLAM_D as [number, number, number, number];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/**
 * The standard normal quantile Φ⁻¹(p): critical values for confidence
 * intervals. Acklam's approximation refined by one Halley step against
 * `normalCdf`, which brings it to double precision.
 */
export function normalQuantile(p: number): number {
  assertNumber(p, 'p');
  if (p < 0 || p > 1) throw new RangeError(`p must be between 0 and 1, got ${p}`);
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  // 1 − p is exact for p ≥ ½, and the lower tail is where Φ is accurate.
  if (p > 0.5) return -normalQuantile(1 - p);
  const x = acklamLower(p);
  const e = normalCdf(x) - p;
  const u = e * SQRT_2PI * Math.exp(0.5 * x * x);
  return x - u / (1 + 0.5 * x * u);
}

function checkDf(df: number): void {
  assertPositive(df, 'df');
}

/** Two-sided tail P(|T| > |t|) for Student's t with `df` degrees of freedom. @internal */
export function studentTTwoSided(t: number, df: number): number {
  if (df === Number.POSITIVE_INFINITY) return 2 * normalCdf(-Math.abs(t));
  if (!Number.isFinite(t)) return 0;
  if (t === 0) return 1;
  const t2 = t * t;
  return incompleteBeta(df / (df + t2), t2 / (df + t2), df / 2, 0.5);
}

/**
 * The Student t CDF, via the incomplete beta. Used for Welch's test, where
 * `df` is fractional; `df = Infinity` gives the normal CDF.
 */
export function studentTCdf(t: number, df: number): number {
  assertNumber(t, 't');
  checkDf(df);
  if (t === 0) return 0.5;
  const tail = 0.5 * studentTTwoSided(t, df);
  return t < 0 ? tail : 1 - tail;
}

function studentTPdf(t: number, df: number): number {
  return Math.exp(
    logGamma((df + 1) / 2) -
      logGamma(df / 2) -
      0.5 * Math.log(df * Math.PI) -
      ((df + 1) / 2) * Math.log1p((t * t) / df),
  );
}

/**
 * The Student t quantile: the critical value of Welch confidence intervals.
 * Newton's method on the upper tail, kept inside a bracket by bisection.
 */
export function studentTQuantile(p: number, df: number): number {
  assertNumber(p, 'p');
  if (p < 0 || p > 1) throw new RangeError(`p must be between 0 and 1, got ${p}`);
  checkDf(df);
  if (df === Number.POSITIVE_INFINITY) return normalQuantile(p);
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  // Solve for the tail probability itself: 1 − p is exact for p ≥ ½
  // (Sterbenz), but 1 − (1 − p) would round away a small p.
  const q = p < 0.5 ? p : 1 - p;
  const sign = p < 0.5 ? -1 : 1;
  const upper = (t: number): number => 0.5 * studentTTwoSided(t, df);
  let lo = 0;
  let hi = Math.max(1, normalQuantile(1 - q));
  while (upper(hi) > q) {
    lo = hi;
    hi *= 2;
  }
  let t = 0.5 * (lo + hi);
  for (let i = 0; i < 200; i++) {
    const f = upper(t) - q;
    if (f > 0) lo = t;
    else hi = t;
    let next = t + f / studentTPdf(t, df);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - t) <= 1e-15 * next || hi - lo <= 1e-15 * hi) return sign * next;
    t = next;
  }
  return sign * t;
}

/**
 * The χ² survival function P(X > x): the p-value of a chi-square statistic
 * (sample ratio mismatch), computed as Q(df/2, x/2).
 */
export function chiSquareSf(x: number, df: number): number {
  assertNumber(x, 'x');
  checkDf(df);
  assertFinite(df, 'df');
  if (x <= 0) return 1;
  return regularizedGammaQ(df / 2, x / 2);
}

/**
 * The Kolmogorov distribution's survival function Q(λ) = P(K > λ), the
 * asymptotic p-value of the Kolmogorov–Smirnov statistic. Two series, each
 * used where it converges in a few terms.
 */
export function kolmogorovSf(lambda: number): number {
  assertNumber(lambda, 'lambda');
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    // Q = 1 − (√(2π)/λ) Σ exp(−(2j−1)²π²/(8λ²))
    const k = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let j = 1; j < 100; j++) {
      const term = Math.exp(-(2 * j - 1) * (2 * j - 1) * k);
      sum += term;
      if (term < EPSILON * sum) break;
    }
    return 1 - (SQRT_2PI / lambda) * sum;
  }
  // Q = 2 Σ (−1)^{j−1} exp(−2j²λ²)
  let sum = 0;
  for (let j = 1; j < 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += j % 2 === 1 ? term : -term;
    if (term < EPSILON * Math.abs(sum)) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}
