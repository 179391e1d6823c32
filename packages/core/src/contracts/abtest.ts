/**
 * The A/B testing contract: deterministic assignment of units (users,
 * sessions) to variants, exposure and outcome logging, analysis, and a
 * decision.
 *
 * The rules every engine keeps, and that `testAbTest` in `@cairn/testkit`
 * checks:
 *
 * 1. **Assignment is a pure function** of the experiment's seed, the unit id
 *    and the weights (GrowthBook-compatible hashing, `assignVariant` in
 *    `@cairn/stats`): the same unit gets the same variant in every process
 *    and after a restart, with nothing stored.
 * 2. **Exposure is what counts.** Only units recorded as exposed enter the
 *    analysis, each once (the first exposure wins); an outcome is credited to
 *    the variant the unit was exposed to.
 * 3. **Logging is idempotent per event id.** A retried `recordOutcome` with
 *    the same `eventId` is counted once, so clients can retry on failure.
 * 4. **Analysis checks itself first.** A sample-ratio mismatch (observed
 *    exposures against the weights) makes the decision `invalid`, whatever
 *    the metrics say; peeking is safe because the stopping decision uses
 *    always-valid (sequential) p-values.
 *
 * Engines are two-phase like executors: the factory in `cairn.config.ts`
 * returns an {@link AbTestDescriptor}; `create` opens the engine.
 *
 * @example
 * ```ts
 * const engine = await localAbtest().create({ stateDir: '.cairn' });
 * await engine.createExperiment({
 *   name: 'ranker-v4',
 *   variants: [{ name: 'control', weight: 50 }, { name: 'v4', weight: 50 }],
 *   primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
 * });
 * const { variant } = await engine.assign('ranker-v4', userId);
 * ```
 */

/** One arm of an experiment. */
export interface VariantDefinition {
  /** Lowercase letters, digits, `-`, `_`, `.`; unique within the experiment. */
  name: string;
  /** Relative share of the units (any positive numbers; normalised). */
  weight: number;
  /** What the variant serves, handed back by `assign`: a model version, a config (JSON). */
  payload?: unknown;
}

/** A metric the experiment is judged on. */
export interface MetricDefinition {
  /** Lowercase letters, digits, `-`, `_`, `.`. */
  name: string;
  /**
   * `binomial`: a unit converted or not (outcome values 0/1; a unit converts
   * when any outcome is non-zero). `continuous`: a unit's value is the sum of
   * its outcomes (revenue, time spent).
   */
  type: 'binomial' | 'continuous';
  /** Which direction is better. */
  goal: 'increase' | 'decrease';
}

/** What `createExperiment` is given. */
export interface ExperimentDefinition {
  /** Lowercase letters, digits, `-`, `_`, `.`; starts with a letter; at most 100 characters. */
  name: string;
  /** Two or more. */
  variants: VariantDefinition[];
  /** The variant the others are compared with. @default the first variant */
  control?: string;
  primaryMetric: MetricDefinition;
  /** Metrics that must not get significantly worse for a variant to ship. */
  guardrailMetrics?: MetricDefinition[];
  /** Share of units in the experiment, in (0, 1]; the rest get the control and are not logged. @default 1 */
  coverage?: number;
  /** Hashing seed. @default the experiment name */
  seed?: string;
  /** GrowthBook hash version. @default 2 */
  hashVersion?: 1 | 2;
  /** Significance level of tests and intervals. @default 0.05 */
  alpha?: number;
  /** Exposed units per variant before a decision other than `continue`. @default 100 */
  minimumSampleSize?: number;
}

/** An experiment as stored. */
export interface Experiment extends ExperimentDefinition {
  control: string;
  status: 'running' | 'concluded';
  /** ISO-8601. */
  createdAt: string;
  concludedAt?: string;
  /** Once concluded, every unit gets this variant. */
  winner?: string;
  reason?: string;
}

/** A unit's variant. */
export interface Assignment {
  experiment: string;
  unitId: string;
  /** The variant to serve. Outside coverage or after conclusion: the control or the winner. */
  variant: string;
  payload?: unknown;
  /** False outside coverage and after conclusion: do not record exposures then. */
  inExperiment: boolean;
}

/** Options of one logged event. */
export interface EventOptions {
  /** ISO-8601 or a Date. @default now */
  at?: string | Date;
  /** Deduplication key: a second event with the same id is ignored. */
  eventId?: string;
}

/** One variant's numbers on one metric. */
export interface VariantMetricSummary {
  variant: string;
  /** Exposed units. */
  units: number;
  /** Mean of the per-unit values (conversion rate for binomial metrics). */
  mean: number;
  /** Sample variance of the per-unit values. */
  variance: number;
}

/** A treatment against the control on one metric. */
export interface VariantComparison {
  variant: string;
  metric: string;
  /** Treatment − control, in the metric's units. */
  difference: number;
  /** Difference / |control mean| (NaN when the control mean is 0). */
  relativeDifference: number;
  /** Fixed-horizon two-sided p-value (z test for binomial, Welch's t for continuous). */
  pValue: number;
  confidenceInterval: [number, number];
  /** Confidence interval for `relativeDifference` (delta method), when the engine computes one. */
  relativeConfidenceInterval?: [number, number];
  /** Always-valid p-value (mixture SPRT): safe to read at any time. */
  sequentialPValue: number;
  /** Posterior probability that the treatment is better, in the metric's goal direction. */
  probabilityToBeBetter: number;
  /** Expected loss, in the metric's units, of shipping the treatment. */
  expectedLoss: number;
  /** The treatment is better, worse, or not distinguishable (by the sequential p-value at `alpha`). */
  verdict: 'better' | 'worse' | 'inconclusive';
}

/** The result of `analyze`. */
export interface ExperimentAnalysis {
  experiment: string;
  /** ISO-8601. */
  analyzedAt: string;
  control: string;
  exposures: Record<string, number>;
  sampleRatio: { pValue: number; mismatch: boolean; expected: Record<string, number> };
  primary: { metric: string; variants: VariantMetricSummary[]; comparisons: VariantComparison[] };
  guardrails: Array<{ metric: string; variants: VariantMetricSummary[]; comparisons: VariantComparison[] }>;
  decision: {
    /**
     * `ship`: `variant` is better on the primary metric and no guardrail is
     * worse; `keep-control`: every treatment is worse, or guardrails block the
     * better ones; `continue`: not enough evidence or sample yet; `invalid`:
     * the sample ratio does not match the weights, fix the assignment first.
     */
    action: 'ship' | 'keep-control' | 'continue' | 'invalid';
    variant?: string;
    /** One sentence a person reads. */
    reason: string;
  };
}

/** A live engine. */
export interface AbTestEngine {
  /**
   * Create an experiment. The same definition again returns the existing one
   * (so a pipeline step can create it on every run).
   * @throws CAIRN_EXPERIMENT_INVALID for a malformed definition, or a different definition under an existing name
   */
  createExperiment(definition: ExperimentDefinition): Promise<Experiment>;
  getExperiment(name: string): Promise<Experiment | undefined>;
  /** Every experiment, newest first. */
  listExperiments(): Promise<Experiment[]>;
  /**
   * The unit's variant. Pure: no write.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND, CAIRN_EXPERIMENT_INVALID for an empty unit id
   */
  assign(experiment: string, unitId: string): Promise<Assignment>;
  /**
   * Record that the unit saw its variant. The variant is the unit's
   * assignment; only the first exposure of a unit counts.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND, CAIRN_EXPERIMENT_INVALID (concluded experiment, unit outside coverage)
   */
  recordExposure(experiment: string, unitId: string, options?: EventOptions): Promise<void>;
  /**
   * Record an outcome of a unit on a metric of the experiment. Outcomes of
   * units never exposed are kept but do not enter the analysis.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND, CAIRN_EXPERIMENT_INVALID (unknown metric, non-finite value, binomial value not 0 or 1)
   */
  recordOutcome(
    experiment: string,
    unitId: string,
    metric: string,
    value: number,
    options?: EventOptions,
  ): Promise<void>;
  /** @throws CAIRN_EXPERIMENT_NOT_FOUND */
  analyze(experiment: string): Promise<ExperimentAnalysis>;
  /**
   * End the experiment: from now on every unit gets `winner`.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND, CAIRN_EXPERIMENT_INVALID (unknown variant, already concluded with another winner)
   */
  conclude(experiment: string, decision: { winner: string; reason: string }): Promise<Experiment>;
  close(): Promise<void>;
}

/** What `create` receives. */
export interface AbTestContext {
  /** Cairn's local state folder (`.cairn`), for engines that keep a local file. */
  stateDir: string;
}

/** The serializable thing a factory returns. */
export interface AbTestDescriptor<Options = unknown> {
  readonly kind: 'abtest';
  /** `'local'`, `'growthbook'`… */
  readonly name: string;
  readonly options: Options;
  create(context: AbTestContext): AbTestEngine | Promise<AbTestEngine>;
}

/** Experiment, variant and metric names: they become keys in storage and URLs. */
export const EXPERIMENT_NAME = /^[a-z][a-z0-9._-]{0,99}$/;
