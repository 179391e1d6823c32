/**
 * Frequentist comparisons of a treatment with a control: the fixed-horizon
 * tests an A/B report shows, and the sample ratio mismatch check that says
 * whether the report can be trusted at all. All tests are two-sided.
 */
import { chiSquareSf, normalCdf, normalQuantile, studentTQuantile, studentTTwoSided } from './distributions';
import { assertSummary, type Summary } from './summary';
import { assertArray, assertCount, assertLevel, assertNonNegative } from './validate';

/** Conversions out of exposures for one variant. */
export interface Proportion {
  successes: number;
  trials: number;
}

/** The outcome of a two-sample comparison, treatment against control. */
export interface ComparisonResult {
  /** Treatment − control (absolute). */
  difference: number;
  /**
   * `difference` divided by |control rate or mean| (as GrowthBook), so a
   * negative baseline that moves up reads as a gain; NaN when it is 0.
   */
  relativeDifference: number;
  /** The z or t statistic. */
  statistic: number;
  /** Two-sided p-value. */
  pValue: number;
  /** Confidence interval for `difference` at level 1 − alpha. */
  confidenceInterval: [number, number];
  /**
   * Confidence interval for `relativeDifference` at level 1 − alpha, by the
   * delta method: Var ≈ v_t/(n_t·m_c²) + m_t²·v_c/(n_c·m_c⁴) (GrowthBook's
   * formula), with the same critical value as the absolute interval.
   * NaN bounds when the control's rate or mean is 0.
   */
  relativeConfidenceInterval: [number, number];
  alpha: number;
}

/**
 * The relative lift and its delta-method interval for two arms' means and
 * unit variances; `critical` is the z or t quantile of the interval. @internal
 */
export function relativeLift(
  control: Summary,
  treatment: Summary,
  critical: number,
): { relativeDifference: number; relativeConfidenceInterval: [number, number] } {
  const mc = control.mean;
  const mt = treatment.mean;
  if (mc === 0)
    return { relativeDifference: Number.NaN, relativeConfidenceInterval: [Number.NaN, Number.NaN] };
  const relativeDifference = (mt - mc) / Math.abs(mc);
  const variance =
    treatment.variance / (treatment.n * mc * mc) + (mt * mt * control.variance) / (control.n * mc ** 4);
  const half = critical * Math.sqrt(variance);
  return {
    relativeDifference,
    relativeConfidenceInterval: [relativeDifference - half, relativeDifference + half],
  };
}

/** Options of the fixed-horizon tests. */
export interface TestOptions {
  /** Significance level of the interval. @default 0.05 */
  alpha?: number;
}

/** Checks a caller-supplied proportion. @internal */
export function assertProportion(value: Proportion, name: string, minTrials = 1): void {
  if (value === null || typeof value !== 'object')
    throw new TypeError(`${name} must be { successes, trials }`);
  assertCount(value.successes, `${name}.successes`);
  assertCount(value.trials, `${name}.trials`);
  if (value.trials < minTrials)
    throw new RangeError(`${name}.trials must be >= ${minTrials}, got ${value.trials}`);
  if (value.successes > value.trials) {
    throw new RangeError(
      `${name}.successes (${value.successes}) must not exceed ${name}.trials (${value.trials})`,
    );
  }
}

function alphaOf(options: TestOptions | undefined): number {
  const alpha = options?.alpha ?? 0.05;
  assertLevel(alpha, 'options.alpha');
  return alpha;
}

/**
 * The two-proportion z-test for conversion rates. The statistic uses the
 * pooled standard error (the null hypothesis says the rates are equal); the
 * interval uses the unpooled one (it describes the difference, which need not
 * be 0). Valid when each arm has roughly ten or more successes and failures.
 */
export function twoProportionZTest(
  control: Proportion,
  treatment: Proportion,
  options?: TestOptions,
): ComparisonResult {
  assertProportion(control, 'control');
  assertProportion(treatment, 'treatment');
  const alpha = alphaOf(options);
  const pc = control.successes / control.trials;
  const pt = treatment.successes / treatment.trials;
  const difference = pt - pc;
  const pooled = (control.successes + treatment.successes) / (control.trials + treatment.trials);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.trials + 1 / treatment.trials));
  // Equal observed rates of 0 or 1 give 0/0: no evidence of a difference.
  const statistic = pooledSe === 0 ? 0 : difference / pooledSe;
  const pValue = 2 * normalCdf(-Math.abs(statistic));
  const se = Math.sqrt((pc * (1 - pc)) / control.trials + (pt * (1 - pt)) / treatment.trials);
  const z = normalQuantile(1 - alpha / 2);
  const lift = relativeLift(
    { n: control.trials, mean: pc, variance: pc * (1 - pc) },
    { n: treatment.trials, mean: pt, variance: pt * (1 - pt) },
    z,
  );
  return {
    difference,
    ...lift,
    statistic,
    pValue,
    confidenceInterval: [difference - z * se, difference + z * se],
    alpha,
  };
}

/**
 * Welch's t-test for a difference in means with unequal variances: the
 * default for continuous metrics (revenue, latency), with Welch–Satterthwaite
 * degrees of freedom. Each arm needs at least two values.
 */
export function welchTTest(
  control: Summary,
  treatment: Summary,
  options?: TestOptions,
): ComparisonResult & { degreesOfFreedom: number } {
  assertSummary(control, 'control');
  assertSummary(treatment, 'treatment');
  if (control.n < 2) throw new RangeError(`control.n must be >= 2, got ${control.n}`);
  if (treatment.n < 2) throw new RangeError(`treatment.n must be >= 2, got ${treatment.n}`);
  const alpha = alphaOf(options);
  const difference = treatment.mean - control.mean;
  const vc = control.variance / control.n;
  const vt = treatment.variance / treatment.n;
  const se = Math.sqrt(vc + vt);
  // With no spread in either arm the Satterthwaite formula is 0/0; fall back
  // to the pooled degrees of freedom.
  const degreesOfFreedom =
    se === 0
      ? control.n + treatment.n - 2
      : (vc + vt) ** 2 / (vc ** 2 / (control.n - 1) + vt ** 2 / (treatment.n - 1));
  let statistic: number;
  if (se > 0) statistic = difference / se;
  else statistic = difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY;
  const pValue = studentTTwoSided(statistic, degreesOfFreedom);
  const t = studentTQuantile(1 - alpha / 2, degreesOfFreedom);
  return {
    difference,
    ...relativeLift(control, treatment, t),
    statistic,
    pValue,
    confidenceInterval: [difference - t * se, difference + t * se],
    alpha,
    degreesOfFreedom,
  };
}

/** The outcome of a sample ratio mismatch check. */
export interface SampleRatioCheck {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  /** `pValue < threshold`: the split differs from the configured weights more than chance allows. */
  mismatch: boolean;
  expected: number[];
  observed: number[];
}

/** Options of `sampleRatioMismatch`. */
export interface SampleRatioOptions {
  /** p-value below which the split is a mismatch. @default 0.001 */
  threshold?: number;
}

/**
 * Sample ratio mismatch: a χ² goodness-of-fit test of the observed units per
 * variant against the configured weights. A mismatch means assignment or
 * logging is broken and the experiment's results should not be trusted.
 * The strict default threshold (0.001) is the industry convention, because
 * the check runs on every experiment and every look.
 */
export function sampleRatioMismatch(
  observed: readonly number[],
  weights: readonly number[],
  options?: SampleRatioOptions,
): SampleRatioCheck {
  assertArray(observed, 'observed', 2);
  assertArray(weights, 'weights', 2);
  if (observed.length !== weights.length) {
    throw new RangeError(`observed has ${observed.length} entries but weights has ${weights.length}`);
  }
  observed.forEach((o, i) => {
    assertNonNegative(o, `observed[${i}]`);
  });
  weights.forEach((w, i) => {
    assertNonNegative(w, `weights[${i}]`);
  });
  const weightSum = weights.reduce((s, w) => s + w, 0);
  if (!(weightSum > 0)) throw new RangeError('weights must sum to > 0');
  const threshold = options?.threshold ?? 0.001;
  assertLevel(threshold, 'options.threshold');
  const total = observed.reduce((s, o) => s + o, 0);
  const expected = weights.map((w) => (total * w) / weightSum);
  let chiSquare = 0;
  let cells = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const o = observed[i]!;
    if (weights[i]! > 0) cells += 1;
    if (e > 0) chiSquare += ((o - e) * (o - e)) / e;
    // Units in a variant with weight 0 cannot happen by chance.
    else if (o > 0) chiSquare = Number.POSITIVE_INFINITY;
  }
  const degreesOfFreedom = Math.max(1, cells - 1);
  const pValue = total === 0 ? 1 : chiSquareSf(chiSquare, degreesOfFreedom);
  return {
    chiSquare,
    degreesOfFreedom,
    pValue,
    mismatch: pValue < threshold,
    expected,
    observed: [...observed],
  };
}
