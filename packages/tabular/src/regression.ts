import { CairnError, ErrorCodes } from '@cairn/core';

/** Options of {@link regressionMetrics}. */
export interface RegressionOptions {
  /**
   * The constant the baseline predicts: the mean of the training targets, so
   * the baseline is the model that learned nothing but the average.
   * @default the mean of yTrue
   */
  baselineMean?: number;
}

/** Errors of the mean predictor: what any model must beat to have learned something. */
export interface RegressionBaseline {
  /** The constant it predicts. */
  mean: number;
  rmse: number;
  mae: number;
  r2: number;
}

/** Everything {@link regressionMetrics} computes. Plain JSON. */
export interface RegressionMetrics {
  /** Samples. */
  count: number;
  /** Root mean squared error: √(Σ (y − ŷ)² / n). */
  rmse: number;
  /** Mean absolute error: Σ |y − ŷ| / n. */
  mae: number;
  /**
   * Coefficient of determination: 1 − Σ (y − ŷ)² / Σ (y − ȳ)². 0 is the mean
   * of the test targets, negative is worse. When every target is equal it is
   * 1 for a perfect model and 0 otherwise.
   */
  r2: number;
  /** Mean absolute percentage error, Σ |y − ŷ| / |y| / m over the m targets that are not 0; `null` when all are. */
  mape: number | null;
  /** Mean residual (y − ŷ): positive when the model predicts too low on average. */
  meanResidual: number;
  /** Largest absolute residual. */
  maxAbsError: number;
  baseline: RegressionBaseline;
}

/**
 * RMSE, MAE, R², MAPE of a regression model, and the same errors of the mean
 * predictor as a baseline.
 *
 * @example
 * ```ts
 * const m = regressionMetrics(test.map((r) => r.mpg), predicted, { baselineMean: trainMean });
 * m.rmse < m.baseline.rmse; // the model learned something
 * ```
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID for arrays of different lengths, no samples or a non-finite value
 */
export function regressionMetrics(
  yTrue: readonly number[],
  yPred: readonly number[],
  options: RegressionOptions = {},
): RegressionMetrics {
  const fail = (message: string): never => {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `regressionMetrics: ${message}`);
  };
  if (!Array.isArray(yTrue) || !Array.isArray(yPred)) fail('yTrue and yPred must be arrays of numbers');
  if (yTrue.length !== yPred.length) fail(`yTrue has ${yTrue.length} values, yPred has ${yPred.length}`);
  if (yTrue.length === 0) fail('no samples');
  for (const [name, values] of [
    ['yTrue', yTrue],
    ['yPred', yPred],
  ] as const) {
    const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0) fail(`${name}[${bad}] is ${JSON.stringify(values[bad])}, expected a finite number`);
  }
  const n = yTrue.length;
  const mean = yTrue.reduce((a, b) => a + b, 0) / n;
  const baselineMean = options.baselineMean ?? mean;
  if (typeof baselineMean !== 'number' || !Number.isFinite(baselineMean))
    fail('option "baselineMean" must be a finite number');
  const scores = (predict: (i: number) => number) => {
    let squared = 0;
    let absolute = 0;
    let residualSum = 0;
    let maxAbs = 0;
    let percent = 0;
    let nonZero = 0;
    for (let i = 0; i < n; i++) {
      const residual = yTrue[i]! - predict(i);
      squared += residual * residual;
      absolute += Math.abs(residual);
      residualSum += residual;
      maxAbs = Math.max(maxAbs, Math.abs(residual));
      if (yTrue[i] !== 0) {
        percent += Math.abs(residual) / Math.abs(yTrue[i]!);
        nonZero++;
      }
    }
    let total = 0;
    for (const y of yTrue) total += (y - mean) ** 2;
    const r2 = total === 0 ? (squared === 0 ? 1 : 0) : 1 - squared / total;
    return {
      rmse: Math.sqrt(squared / n),
      mae: absolute / n,
      r2,
      mape: nonZero === 0 ? null : percent / nonZero,
      meanResidual: residualSum / n,
      maxAbsError: maxAbs,
    };
  };
  const model = scores((i) => yPred[i]!);
  const base = scores(() => baselineMean);
  return {
    count: n,
    ...model,
    baseline: { mean: baselineMean, rmse: base.rmse, mae: base.mae, r2: base.r2 },
  };
}

/**
 * A flat name → number map of the headline scores, for the core `metrics`
 * artifact and promotion gates (lower is better for all but `r2` and `skill`):
 * `rmse`, `mae`, `r2`, `mape` (when defined), `baseline_rmse`,
 * `baseline_mae`, and `skill` = 1 − rmse / baseline_rmse (0: no better than the mean).
 */
export function regressionSummary(m: RegressionMetrics): Record<string, number> {
  const out: Record<string, number> = {
    rmse: m.rmse,
    mae: m.mae,
    r2: m.r2,
    baseline_rmse: m.baseline.rmse,
    baseline_mae: m.baseline.mae,
    skill: m.baseline.rmse === 0 ? (m.rmse === 0 ? 1 : 0) : 1 - m.rmse / m.baseline.rmse,
  };
  if (m.mape !== null) out.mape = m.mape;
  return out;
}
