/**
 * Bayesian comparisons: the "chance to beat control" and "expected loss" that
 * product teams read more easily than p-values. Conversion rates use
 * conjugate Beta posteriors; means use the normal posterior of a flat prior.
 *
 * For Beta posteriors, P(treatment > control) is exact (Evan Miller, "Formulas
 * for Bayesian A/B Testing", 2015). Miller's sum runs over one parameter of
 * one arm, and by symmetry (P(Y > X) = 1 − P(X > Y), and 1 − X ~ Beta(b, a))
 * it can run over any of the four: the smallest whole-number one is chosen,
 * and the sum is used while that one is ≤ EXACT_LIMIT. Looking at only the
 * treatment's alpha sent a small control against a large treatment (a
 * `decrease` goal swaps the arms) to the normal approximation, 0.014 off.
 * When all four are larger (or the prior is fractional) both posteriors are
 * replaced by normals with the same mean and variance. The expected loss
 * follows the same switch (Chris Stucchio's identity on top of Miller's
 * sum); the credible interval always uses the normal approximation of the
 * difference.
 */
import { logBeta, normalCdf, normalPdf, normalQuantile } from './distributions';
import { assertSummary, type Summary } from './summary';
import { assertProportion, type Proportion } from './tests';
import { assertFinite, assertPositive } from './validate';

/** Largest number of terms of Miller's exact sum; see the module comment. */
export const EXACT_LIMIT = 5000;

const Z_95 = normalQuantile(0.975);

/** A Bayesian verdict on treatment versus control. */
export interface BayesianComparison {
  /** P(treatment > control) under the posterior. */
  probabilityToBeat: number;
  /** E[max(control − treatment, 0)]: what choosing treatment costs on average if it is worse. */
  expectedLoss: number;
  /** 95% credible interval for treatment − control. */
  credibleInterval: [number, number];
}

/** Options of `betaBinomialComparison`. */
export interface BetaBinomialOptions {
  /** Beta prior shared by both arms. @default { alpha: 1, beta: 1 } (uniform) */
  prior?: { alpha: number; beta: number };
}

interface Beta {
  a: number;
  b: number;
}

/** P(X_b > X_a) for X_a ~ Beta(a.a, a.b), X_b ~ Beta(b.a, b.b); b.a must be a whole number. @internal */
export function betaProbabilityToBeatExact(a: Beta, b: Beta): number {
  const logBetaA = logBeta(a.a, a.b);
  let total = 0;
  for (let i = 0; i < b.a; i++) {
    total += Math.exp(logBeta(a.a + i, a.b + b.b) - Math.log(b.b + i) - logBeta(1 + i, b.b) - logBetaA);
  }
  return Math.min(1, Math.max(0, total));
}

/**
 * P(Y > X) by Miller's sum over the smallest whole-number parameter of the
 * two posteriors, or undefined when none is ≤ EXACT_LIMIT. @internal
 */
export function betaProbabilityGreater(x: Beta, y: Beta): number | undefined {
  const flip = (beta: Beta): Beta => ({ a: beta.b, b: beta.a });
  const routes: Array<[terms: number, evaluate: () => number]> = [
    [y.a, () => betaProbabilityToBeatExact(x, y)],
    [x.a, () => 1 - betaProbabilityToBeatExact(y, x)],
    // Y > X exactly when 1 − X > 1 − Y.
    [x.b, () => betaProbabilityToBeatExact(flip(y), flip(x))],
    [y.b, () => 1 - betaProbabilityToBeatExact(flip(x), flip(y))],
  ];
  let best: (typeof routes)[number] | undefined;
  for (const route of routes) {
    if (Number.isInteger(route[0]) && route[0] <= EXACT_LIMIT && (!best || route[0] < best[0])) best = route;
  }
  return best && Math.min(1, Math.max(0, best[1]()));
}

function moments(beta: Beta): { mean: number; variance: number } {
  const s = beta.a + beta.b;
  return { mean: beta.a / s, variance: (beta.a * beta.b) / (s * s * (s + 1)) };
}

/** The verdict for a difference D ~ N(mean, sd²). */
function normalVerdict(mean: number, sd: number): BayesianComparison {
  if (sd === 0) {
    return {
      probabilityToBeat: mean > 0 ? 1 : mean < 0 ? 0 : 0.5,
      expectedLoss: Math.max(0, -mean),
      credibleInterval: [mean, mean],
    };
  }
  const z = mean / sd;
  return {
    probabilityToBeat: normalCdf(z),
    // E[max(−D, 0)] for D ~ N(m, s²) = s·φ(m/s) − m·Φ(−m/s)
    expectedLoss: Math.max(0, sd * normalPdf(z) - mean * normalCdf(-z)),
    credibleInterval: [mean - Z_95 * sd, mean + Z_95 * sd],
  };
}

/**
 * Beta-binomial comparison of two conversion rates, for Bayesian A/B
 * reports. Exact below the switch described in the module comment.
 */
export function betaBinomialComparison(
  control: Proportion,
  treatment: Proportion,
  options?: BetaBinomialOptions,
): BayesianComparison {
  assertProportion(control, 'control', 0);
  assertProportion(treatment, 'treatment', 0);
  const prior = options?.prior ?? { alpha: 1, beta: 1 };
  assertPositive(prior.alpha, 'options.prior.alpha');
  assertFinite(prior.alpha, 'options.prior.alpha');
  assertPositive(prior.beta, 'options.prior.beta');
  assertFinite(prior.beta, 'options.prior.beta');
  const c: Beta = { a: prior.alpha + control.successes, b: prior.beta + control.trials - control.successes };
  const t: Beta = {
    a: prior.alpha + treatment.successes,
    b: prior.beta + treatment.trials - treatment.successes,
  };
  const mc = moments(c);
  const mt = moments(t);
  const approx = normalVerdict(mt.mean - mc.mean, Math.sqrt(mc.variance + mt.variance));
  const probabilityToBeat = betaProbabilityGreater(c, t);
  if (probabilityToBeat === undefined) return approx;
  // E[max(C − T, 0)] = E[C·1(C>T)] − E[T·1(C>T)], and E[X·1(…)] for a Beta is
  // its mean times the same probability with alpha raised by one (Stucchio).
  const controlAbove = 1 - betaProbabilityGreater({ a: c.a + 1, b: c.b }, t)!;
  const treatmentBelow = 1 - betaProbabilityGreater(c, { a: t.a + 1, b: t.b })!;
  const expectedLoss = Math.max(0, mc.mean * controlAbove - mt.mean * treatmentBelow);
  return { probabilityToBeat, expectedLoss, credibleInterval: approx.credibleInterval };
}

/**
 * Bayesian comparison of two means (revenue, latency) under a flat prior:
 * each mean's posterior is N(mean, variance / n). Each arm needs n ≥ 2.
 */
export function gaussianComparison(control: Summary, treatment: Summary): BayesianComparison {
  assertSummary(control, 'control');
  assertSummary(treatment, 'treatment');
  if (control.n < 2) throw new RangeError(`control.n must be >= 2, got ${control.n}`);
  if (treatment.n < 2) throw new RangeError(`treatment.n must be >= 2, got ${treatment.n}`);
  const sd = Math.sqrt(control.variance / control.n + treatment.variance / treatment.n);
  return normalVerdict(treatment.mean - control.mean, sd);
}
