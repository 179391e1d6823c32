import type {
  ExperimentAnalysis,
  MetricDefinition,
  VariantComparison,
  VariantMetricSummary,
} from '@cairn/core';
import {
  betaBinomialComparison,
  gaussianComparison,
  msprtMeans,
  msprtProportions,
  sampleRatioMismatch,
  summaryFromSums,
  twoProportionZTest,
  welchTTest,
} from '@cairn/stats';
import type { NormalizedDefinition } from './definition';

/** Per-variant sums over exposed units' per-unit values, as SQL returns them. */
export interface VariantAggregate {
  variant: string;
  units: number;
  sum: number;
  sumOfSquares: number;
}

/**
 * p-value below which the observed split counts as a sample-ratio mismatch.
 * 0.001 rather than alpha: the check runs on every analysis, and a false
 * alarm throws away a whole experiment.
 */
export const SRM_THRESHOLD = 0.001;

type Comparison = VariantComparison;

/**
 * The always-valid p-values of earlier analyses, by metric and variant: the
 * mSPRT p-value is a running minimum over looks, so a `ship` cannot turn back
 * into `continue` at a later look.
 */
export type PreviousPValues = ReadonlyMap<string, number>;

/** The key of one comparison in {@link PreviousPValues}. */
export const comparisonKey = (metric: string, variant: string): string => `${metric}\u0000${variant}`;
type MetricResult = { metric: string; variants: VariantMetricSummary[]; comparisons: Comparison[] };

const num = (x: number): string => {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 1e-4) return x.toExponential(1);
  return String(Number(x.toPrecision(4)));
};
const pct = (x: number): string => `${num(x * 100)}%`;
const signedPct = (x: number): string =>
  Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${num(x * 100)}%` : 'n/a';

function summarize(aggregate: VariantAggregate): VariantMetricSummary {
  const { units, sum, sumOfSquares } = aggregate;
  if (units === 0) return { variant: aggregate.variant, units, mean: Number.NaN, variance: Number.NaN };
  if (units === 1) return { variant: aggregate.variant, units, mean: sum, variance: Number.NaN };
  const summary = summaryFromSums(units, sum, sumOfSquares);
  return { variant: aggregate.variant, units, mean: summary.mean, variance: summary.variance };
}

function compare(
  metric: MetricDefinition,
  definition: NormalizedDefinition,
  control: VariantAggregate,
  treatment: VariantAggregate,
  previous: PreviousPValues,
): Comparison {
  const { alpha } = definition;
  const controlMean = control.units > 0 ? control.sum / control.units : Number.NaN;
  const treatmentMean = treatment.units > 0 ? treatment.sum / treatment.units : Number.NaN;
  const base: Comparison = {
    variant: treatment.variant,
    metric: metric.name,
    difference: treatmentMean - controlMean,
    // |baseline|, as GrowthBook: a negative metric moving up is a gain.
    relativeDifference:
      controlMean === 0 ? Number.NaN : (treatmentMean - controlMean) / Math.abs(controlMean),
    pValue: Number.NaN,
    confidenceInterval: [Number.NaN, Number.NaN],
    sequentialPValue: Number.NaN,
    probabilityToBeBetter: Number.NaN,
    expectedLoss: Number.NaN,
    verdict: 'inconclusive',
  };
  // No test has anything to say before each side has a variance.
  if (control.units < 2 || treatment.units < 2) return base;

  const decrease = metric.goal === 'decrease';
  // Earlier looks count only once both arms had minimumSampleSize units (see engine analyze()).
  const previousPValue = previous.get(comparisonKey(metric.name, treatment.variant)) ?? 1;
  let test: {
    difference: number;
    pValue: number;
    confidenceInterval: [number, number];
    relativeConfidenceInterval: [number, number];
  };
  let sequential: { alwaysValidPValue: number };
  let bayes: { probabilityToBeat: number; expectedLoss: number };
  if (metric.type === 'binomial') {
    const c = { successes: control.sum, trials: control.units };
    const t = { successes: treatment.sum, trials: treatment.units };
    test = twoProportionZTest(c, t, { alpha });
    sequential = msprtProportions(c, t, { alpha, previousPValue });
    // Swapping the arms asks "is the treatment lower", with the loss of shipping it.
    bayes = decrease ? betaBinomialComparison(t, c) : betaBinomialComparison(c, t);
  } else {
    const c = summaryFromSums(control.units, control.sum, control.sumOfSquares);
    const t = summaryFromSums(treatment.units, treatment.sum, treatment.sumOfSquares);
    test = welchTTest(c, t, { alpha });
    sequential = msprtMeans(c, t, { alpha, previousPValue });
    bayes = decrease ? gaussianComparison(t, c) : gaussianComparison(c, t);
  }
  const improves = decrease ? base.difference < 0 : base.difference > 0;
  const significant = sequential.alwaysValidPValue < alpha && base.difference !== 0;
  return {
    ...base,
    pValue: test.pValue,
    confidenceInterval: test.confidenceInterval,
    relativeConfidenceInterval: test.relativeConfidenceInterval,
    sequentialPValue: sequential.alwaysValidPValue,
    probabilityToBeBetter: bayes.probabilityToBeat,
    expectedLoss: bayes.expectedLoss,
    verdict: significant ? (improves ? 'better' : 'worse') : 'inconclusive',
  };
}

function analyzeMetric(
  definition: NormalizedDefinition,
  metric: MetricDefinition,
  aggregates: VariantAggregate[],
  previous: PreviousPValues,
): MetricResult {
  const byVariant = new Map(aggregates.map((a) => [a.variant, a]));
  const full = definition.variants.map(
    (v) => byVariant.get(v.name) ?? { variant: v.name, units: 0, sum: 0, sumOfSquares: 0 },
  );
  const control = full.find((a) => a.variant === definition.control)!;
  return {
    metric: metric.name,
    variants: full.map(summarize),
    comparisons: full
      .filter((a) => a.variant !== definition.control)
      .map((treatment) => compare(metric, definition, control, treatment, previous)),
  };
}

const describeValue = (metric: MetricDefinition, mean: number): string =>
  metric.type === 'binomial' ? pct(mean) : num(mean);

const relativeInterval = (comparison: Comparison): string => {
  const ci = comparison.relativeConfidenceInterval;
  return ci && Number.isFinite(ci[0]) && Number.isFinite(ci[1])
    ? ` [${signedPct(ci[0])}, ${signedPct(ci[1])}]`
    : '';
};

function describe(
  metric: MetricDefinition,
  result: MetricResult,
  comparison: Comparison,
  control: string,
): string {
  const mean = (variant: string) => result.variants.find((v) => v.variant === variant)!.mean;
  return (
    `${metric.name} ${describeValue(metric, mean(comparison.variant))} vs ${describeValue(metric, mean(control))}` +
    ` (${signedPct(comparison.relativeDifference)}${relativeInterval(comparison)}, always-valid p = ${num(comparison.sequentialPValue)})`
  );
}

/**
 * The analysis of one experiment from its SQL aggregates: the sample-ratio
 * check, per-metric summaries and comparisons, and the decision.
 */
export function analyzeAggregates(
  definition: NormalizedDefinition,
  exposures: Record<string, number>,
  metrics: ReadonlyMap<string, VariantAggregate[]>,
  analyzedAt: string,
  previous: PreviousPValues = new Map(),
): ExperimentAnalysis {
  const { control, variants, primaryMetric, guardrailMetrics } = definition;
  const observed = variants.map((v) => exposures[v.name] ?? 0);
  const total = observed.reduce((a, b) => a + b, 0);
  const totalWeight = variants.reduce((a, v) => a + v.weight, 0);
  // Coverage scales every variant's range alike, so the expected shares are the weights'.
  const expected = Object.fromEntries(variants.map((v) => [v.name, (total * v.weight) / totalWeight]));
  const srm =
    total === 0
      ? { pValue: 1, mismatch: false }
      : sampleRatioMismatch(
          observed,
          variants.map((v) => v.weight),
          { threshold: SRM_THRESHOLD },
        );

  const primary = analyzeMetric(definition, primaryMetric, metrics.get(primaryMetric.name) ?? [], previous);
  const guardrails = guardrailMetrics.map((m) =>
    analyzeMetric(definition, m, metrics.get(m.name) ?? [], previous),
  );

  const analysis: ExperimentAnalysis = {
    experiment: definition.name,
    analyzedAt,
    control,
    exposures: Object.fromEntries(variants.map((v, i) => [v.name, observed[i]!])),
    sampleRatio: { pValue: srm.pValue, mismatch: srm.mismatch, expected },
    primary,
    guardrails,
    decision: { action: 'continue', reason: '' },
  };
  analysis.decision = decide(definition, analysis);
  return analysis;
}

function decide(
  definition: NormalizedDefinition,
  analysis: ExperimentAnalysis,
): ExperimentAnalysis['decision'] {
  const { control, primaryMetric, guardrailMetrics, minimumSampleSize, alpha } = definition;
  const counts = definition.variants.map((v) => `${v.name} ${analysis.exposures[v.name]}`).join(', ');
  if (analysis.sampleRatio.mismatch) {
    const expected = definition.variants
      .map((v) => `${v.name} ${Math.round(analysis.sampleRatio.expected[v.name]!)}`)
      .join(', ');
    return {
      action: 'invalid',
      reason:
        `Sample ratio mismatch: exposed units ${counts} against ${expected} expected from the weights ` +
        `(p = ${num(analysis.sampleRatio.pValue)}); fix assignment or exposure logging before reading any metric.`,
    };
  }
  const short = definition.variants.filter((v) => analysis.exposures[v.name]! < minimumSampleSize);
  if (short.length > 0) {
    return {
      action: 'continue',
      reason:
        `Not enough units yet: ${short.map((v) => `${v.name} has ${analysis.exposures[v.name]}`).join(', ')} ` +
        `of the ${minimumSampleSize} exposed units each variant needs.`,
    };
  }

  const primary = analysis.primary;
  const blockers = (variant: string) =>
    analysis.guardrails.flatMap((g, i) =>
      g.comparisons
        .filter((c) => c.variant === variant && c.verdict === 'worse')
        .map((c) => describe(guardrailMetrics[i]!, g, c, control)),
    );
  const better = primary.comparisons.filter((c) => c.verdict === 'better');
  const shippable = better
    .filter((c) => blockers(c.variant).length === 0)
    .sort((a, b) => b.probabilityToBeBetter - a.probabilityToBeBetter || a.expectedLoss - b.expectedLoss);
  const best = shippable[0];
  if (best) {
    return {
      action: 'ship',
      variant: best.variant,
      reason:
        `Ship ${best.variant}: better than ${control} on ${describe(primaryMetric, primary, best, control)}, ` +
        `probability to be better ${pct(best.probabilityToBeBetter)}` +
        (guardrailMetrics.length > 0 ? ', and no guardrail is worse.' : '.'),
    };
  }

  const rejected = primary.comparisons.map((c) => {
    if (c.verdict === 'worse')
      return `${c.variant} is worse on ${describe(primaryMetric, primary, c, control)}`;
    if (c.verdict === 'better')
      return `${c.variant} is better on ${primaryMetric.name} but worse on ${blockers(c.variant).join(' and ')}`;
    return undefined;
  });
  if (rejected.every((r) => r !== undefined)) {
    return { action: 'keep-control', variant: control, reason: `Keep ${control}: ${rejected.join('; ')}.` };
  }
  const open = primary.comparisons
    .filter((c) => c.verdict === 'inconclusive')
    .map((c) => describe(primaryMetric, primary, c, control));
  return {
    action: 'continue',
    reason: `No decision yet at alpha ${alpha}: ${open.join('; ')} against ${control}; keep collecting.`,
  };
}
