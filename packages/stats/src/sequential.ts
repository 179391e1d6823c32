/**
 * Always-valid inference for experiments that are looked at while they run.
 * Re-running a fixed-horizon test at every look inflates false positives far
 * above alpha; the mixture sequential probability ratio test (mSPRT) of
 * Johari, Pekelis & Walsh ("Always Valid Inference", 2017; Optimizely's
 * Stats Engine) gives a p-value that stays valid at every look, so an
 * experiment may stop as soon as it is below alpha.
 *
 * The difference of means is treated as normal with variance
 * V = v_c/n_c + v_t/n_t, each arm's own variance (estimated: a plug-in, as
 * in the paper's practical version). The variances are not pooled: a canary
 * puts few units on a treatment whose spread may differ from the control's,
 * and a pooled variance then understates V and ships a treatment that is not
 * better (a simulated A/A with sd 1 vs 2 on a 90/10 split stopped in 16 % of
 * runs at alpha 5 %). For proportions the null hypothesis (equal rates) makes
 * both arms' Bernoulli variances equal, so the pooled rate is used there.
 * With a N(0, τ²) mixture over the true difference, the likelihood ratio
 * against "no difference" is
 *   Λ = √(V / (V + τ²)) · exp(τ²·Δ² / (2V(V + τ²))),
 * and the always-valid p-value is the running minimum of 1/Λ.
 */
import { assertSummary, type Summary } from './summary';
import { assertProportion, type Proportion } from './tests';
import { assertFinite, assertLevel, assertNumber, assertPositive } from './validate';

/** One look of a sequential test. */
export interface SequentialResult {
  /** min(previousPValue, 1/Λ): valid however often the experiment is looked at. */
  alwaysValidPValue: number;
  /** `alwaysValidPValue <= alpha`. */
  canStop: boolean;
  /** Λ, the mixture likelihood ratio of "some difference" against "none". */
  likelihoodRatio: number;
}

/** Options of the mSPRT. */
export interface SequentialOptions {
  /** Level at which the experiment may stop. @default 0.05 */
  alpha?: number;
  /**
   * τ², the variance of the normal mixture over the true difference: the
   * test is most sensitive to differences of about τ. Choose it from the
   * effects your experiments usually have.
   * @default (0.1 σ)², σ² the pooled variance of both arms: effects of about a tenth of a standard deviation
   */
  mixtureVariance?: number;
  /** The p-value of the previous look (the running minimum is carried between looks). @default 1 */
  previousPValue?: number;
}

/** Relative size of the default mixture standard deviation to the pooled one. */
const DEFAULT_EFFECT_SIZE = 0.1;

/**
 * @param v the variance of the estimated difference
 * @param scaleVariance a unit's variance, the scale of the default τ²
 */
function msprt(
  difference: number,
  v: number,
  scaleVariance: number,
  options: SequentialOptions | undefined,
): SequentialResult {
  const alpha = options?.alpha ?? 0.05;
  assertLevel(alpha, 'options.alpha');
  const previous = options?.previousPValue ?? 1;
  assertNumber(previous, 'options.previousPValue');
  if (previous < 0 || previous > 1) {
    throw new RangeError(`options.previousPValue must be between 0 and 1, got ${previous}`);
  }
  let tau2 = options?.mixtureVariance;
  if (tau2 !== undefined) {
    assertPositive(tau2, 'options.mixtureVariance');
    assertFinite(tau2, 'options.mixtureVariance');
  } else {
    tau2 = DEFAULT_EFFECT_SIZE * DEFAULT_EFFECT_SIZE * scaleVariance;
  }
  let likelihoodRatio: number;
  if (v === 0 || tau2 === 0) {
    // No spread at all: identical outcomes say nothing, different ones are conclusive.
    likelihoodRatio = difference === 0 ? 1 : Number.POSITIVE_INFINITY;
  } else {
    const logLr = 0.5 * Math.log(v / (v + tau2)) + (tau2 * difference * difference) / (2 * v * (v + tau2));
    likelihoodRatio = Math.exp(logLr);
  }
  const alwaysValidPValue = Math.min(previous, 1, 1 / likelihoodRatio);
  return { alwaysValidPValue, canStop: alwaysValidPValue <= alpha, likelihoodRatio };
}

/**
 * mSPRT for a difference in means, called once per look with the cumulative
 * summaries of both arms, with the unpooled variance v_c/n_c + v_t/n_t of
 * the difference (see the module comment). Each arm needs n ≥ 2.
 */
export function msprtMeans(
  control: Summary,
  treatment: Summary,
  options?: SequentialOptions,
): SequentialResult {
  assertSummary(control, 'control');
  assertSummary(treatment, 'treatment');
  if (control.n < 2) throw new RangeError(`control.n must be >= 2, got ${control.n}`);
  if (treatment.n < 2) throw new RangeError(`treatment.n must be >= 2, got ${treatment.n}`);
  const pooled =
    ((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) /
    (control.n + treatment.n - 2);
  const v = control.variance / control.n + treatment.variance / treatment.n;
  return msprt(treatment.mean - control.mean, v, pooled, options);
}

/**
 * mSPRT for a difference in conversion rates, called once per look with the
 * cumulative counts. The Bernoulli variance is pooled over both arms, as the
 * null hypothesis says the rates are equal.
 */
export function msprtProportions(
  control: Proportion,
  treatment: Proportion,
  options?: SequentialOptions,
): SequentialResult {
  assertProportion(control, 'control');
  assertProportion(treatment, 'treatment');
  const pooled = (control.successes + treatment.successes) / (control.trials + treatment.trials);
  const difference = treatment.successes / treatment.trials - control.successes / control.trials;
  const unitVariance = pooled * (1 - pooled);
  const v = unitVariance * (1 / control.trials + 1 / treatment.trials);
  return msprt(difference, v, unitVariance, options);
}
