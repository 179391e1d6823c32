/**
 * CUPED (Deng, Xu, Kohavi & Walker, "Improving the Sensitivity of Online
 * Controlled Experiments by Utilizing Pre-Experiment Data", WSDM 2013): a
 * metric Y is adjusted with a covariate X measured before the experiment
 * (the same metric over the previous weeks, usually),
 *   Y' = Y − θ·(X − X̄),  θ = Cov(Y, X) / Var(X),
 * which keeps the difference of means unbiased (assignment is independent of
 * X) and shrinks its variance by the share ρ² of Y's variance that X
 * explains. The adjusted summaries go into `welchTTest`, `msprtMeans` or
 * `gaussianComparison` unchanged.
 *
 * θ is estimated from both arms together, from within-arm covariances (so a
 * treatment effect on Y cannot leak into θ), and X̄ is the mean of X over both
 * arms. GrowthBook's regression adjustment is the same estimator except that
 * it estimates θ from the pooled sample without centring each arm.
 */
import { assertSummary, type Summary } from './summary';
import { assertFinite, assertNonNegative } from './validate';

/** A metric's summary with its pre-experiment covariate: everything CUPED needs from one arm. */
export interface CovariateSummary extends Summary {
  /** Mean of the covariate X. */
  covariateMean: number;
  /** Sample variance of X (divisor n − 1). */
  covariateVariance: number;
  /** Sample covariance of the metric and X (divisor n − 1). */
  covariance: number;
}

/** What `cuped` returns. */
export interface CupedResult {
  /** θ = Cov(Y, X) / Var(X), pooled within arms; 0 when X does not vary. */
  theta: number;
  /** The adjusted summaries, for the usual tests. */
  control: Summary;
  treatment: Summary;
  /** 1 − Var(adjusted difference) / Var(unadjusted difference): the share of variance removed. */
  varianceReduction: number;
}

/**
 * Summarises paired (metric, covariate) values in one pass (the bivariate
 * Welford update).
 */
export function summarizeWithCovariate(
  values: readonly number[],
  covariates: readonly number[],
): CovariateSummary {
  if (!Array.isArray(values) || !Array.isArray(covariates)) {
    throw new TypeError('values and covariates must be arrays of numbers');
  }
  if (values.length !== covariates.length) {
    throw new RangeError(`values has ${values.length} entries but covariates has ${covariates.length}`);
  }
  let n = 0;
  let mean = 0;
  let covariateMean = 0;
  let m2 = 0;
  let covariateM2 = 0;
  let coMoment = 0;
  for (let i = 0; i < values.length; i++) {
    const y = values[i]!;
    const x = covariates[i]!;
    assertFinite(y, `values[${i}]`);
    assertFinite(x, `covariates[${i}]`);
    n += 1;
    const dy = y - mean;
    const dx = x - covariateMean;
    mean += dy / n;
    covariateMean += dx / n;
    m2 += dy * (y - mean);
    covariateM2 += dx * (x - covariateMean);
    coMoment += dx * (y - mean);
  }
  const d = n < 2 ? 0 : n - 1;
  return {
    n,
    mean,
    variance: d === 0 ? 0 : m2 / d,
    covariateMean,
    covariateVariance: d === 0 ? 0 : covariateM2 / d,
    covariance: d === 0 ? 0 : coMoment / d,
  };
}

function assertCovariateSummary(summary: CovariateSummary, name: string): void {
  assertSummary(summary, name);
  if (summary.n < 2) throw new RangeError(`${name}.n must be >= 2, got ${summary.n}`);
  assertFinite(summary.covariateMean, `${name}.covariateMean`);
  assertNonNegative(summary.covariateVariance, `${name}.covariateVariance`);
  assertFinite(summary.covariance, `${name}.covariance`);
}

/** CUPED-adjusted summaries of both arms; see the module comment. Each arm needs n ≥ 2. */
export function cuped(control: CovariateSummary, treatment: CovariateSummary): CupedResult {
  assertCovariateSummary(control, 'control');
  assertCovariateSummary(treatment, 'treatment');
  const dc = control.n - 1;
  const dt = treatment.n - 1;
  const covariateVariance = dc * control.covariateVariance + dt * treatment.covariateVariance;
  const theta =
    covariateVariance > 0 ? (dc * control.covariance + dt * treatment.covariance) / covariateVariance : 0;
  const grandCovariateMean =
    (control.n * control.covariateMean + treatment.n * treatment.covariateMean) / (control.n + treatment.n);
  const adjust = (arm: CovariateSummary): Summary => ({
    n: arm.n,
    mean: arm.mean - theta * (arm.covariateMean - grandCovariateMean),
    // Var(Y − θX) = Var(Y) − 2θ·Cov(Y, X) + θ²·Var(X), clamped against rounding.
    variance: Math.max(0, arm.variance - 2 * theta * arm.covariance + theta * theta * arm.covariateVariance),
  });
  const adjustedControl = adjust(control);
  const adjustedTreatment = adjust(treatment);
  const before = control.variance / control.n + treatment.variance / treatment.n;
  const after = adjustedControl.variance / control.n + adjustedTreatment.variance / treatment.n;
  return {
    theta,
    control: adjustedControl,
    treatment: adjustedTreatment,
    varianceReduction: before > 0 ? 1 - after / before : 0,
  };
}
