import { CairnError, ErrorCodes } from '@cairn/core';

/** Options of {@link classificationMetrics}. */
export interface ClassificationOptions {
  /** Class labels in the order used by the matrix and by `probabilities`' columns. @default sorted distinct labels of yTrue and yPred */
  labels?: string[];
  /** Per sample, the predicted probability of each label (columns in `labels` order). Adds ROC and calibration. */
  probabilities?: number[][];
  /** Number of equal-width confidence bins of the calibration table. @default 10 */
  bins?: number;
  /**
   * The training labels: the baseline then predicts their most frequent
   * class, as a model that learned only the class balance would.
   * @default yTrue
   */
  trainLabels?: readonly string[];
}

/** The majority-class predictor: what a classifier must beat to have learned something. */
export interface ClassificationBaseline {
  /** The class it always predicts. */
  label: string;
  accuracy: number;
  macroF1: number;
}

/** Scores of one class (one-vs-rest). */
export interface ClassScores {
  /** Of the samples predicted as this class, the share that are. 0 when none is predicted. */
  precision: number;
  /** Of the samples of this class, the share predicted as it. 0 when there are none. */
  recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
  /** Samples of this class in yTrue. */
  support: number;
}

/** A one-vs-rest ROC curve: points from (0, 0) to (1, 1). */
export interface RocCurve {
  fpr: number[];
  tpr: number[];
  /**
   * The score threshold of each point (predict the class when score ≥ threshold).
   * The first point's threshold is the highest score + 1, where nothing is predicted (JSON has no ∞).
   */
  thresholds: number[];
  /** Area under the curve (trapezoids); `null` when the class has no positive or no negative sample. */
  auc: number | null;
}

/** One bin of a reliability (calibration) table. */
export interface CalibrationBin {
  /** Confidence range [lower, upper); the last bin includes 1. */
  lower: number;
  upper: number;
  /** Samples whose top confidence falls in the bin. */
  count: number;
  /** Mean top confidence of those samples; `null` for an empty bin. */
  confidence: number | null;
  /** Share of those samples whose top-probability label is right; `null` for an empty bin. */
  accuracy: number | null;
}

/** Top-label calibration: does a 0.8 confidence come true 80 % of the time? */
export interface Calibration {
  bins: CalibrationBin[];
  /** Expected calibration error: Σ (count / n) · |accuracy − confidence| over bins. */
  ece: number;
}

/** Everything {@link classificationMetrics} computes. Plain JSON. */
export interface ClassificationMetrics {
  labels: string[];
  /** Samples. */
  count: number;
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  /** Unweighted mean of the per-class F1 over `labels`. */
  macroF1: number;
  /** Per-class F1 weighted by support. */
  weightedF1: number;
  perClass: Record<string, ClassScores>;
  /** `confusionMatrix[i][j]`: samples of `labels[i]` predicted as `labels[j]` (rows true, columns predicted). */
  confusionMatrix: number[][];
  /** Samples per label in yTrue, in `labels` order. */
  classBalance: Record<string, number>;
  /** Scores of always predicting the majority class. */
  baseline: ClassificationBaseline;
  /** Labels that occur in yTrue but that the model never predicted: a sign it ignores a class. */
  neverPredicted: string[];
  /** With probabilities: one-vs-rest ROC curve per label. */
  roc?: Record<string, RocCurve>;
  /** With probabilities: mean AUC over the labels that have one; `null` if none has. */
  macroAuc?: number | null;
  /** With probabilities: reliability table and expected calibration error. */
  calibration?: Calibration;
}

/**
 * Accuracy, per-class and averaged precision/recall/F1 and the confusion
 * matrix of a classifier; with `probabilities`, also one-vs-rest ROC curves
 * with AUC and a calibration table with the expected calibration error.
 *
 * @example
 * ```ts
 * const m = classificationMetrics(test.map((r) => r.species), predicted, { probabilities });
 * m.accuracy; m.perClass.Adelie.f1; m.roc?.Gentoo.auc;
 * ```
 */
export function classificationMetrics(
  yTrue: readonly string[],
  yPred: readonly string[],
  options: ClassificationOptions = {},
): ClassificationMetrics {
  const fail = (message: string): never => {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `classificationMetrics: ${message}`);
  };
  if (!Array.isArray(yTrue) || !Array.isArray(yPred)) fail('yTrue and yPred must be arrays of labels');
  if (yTrue.length !== yPred.length) fail(`yTrue has ${yTrue.length} labels, yPred has ${yPred.length}`);
  if (yTrue.length === 0) fail('no samples');
  const labels = options.labels ? [...options.labels] : [...new Set([...yTrue, ...yPred].map(String))].sort();
  if (new Set(labels).size !== labels.length) fail('option "labels" has duplicates');
  const index = new Map(labels.map((l, i) => [l, i]));
  const k = labels.length;
  const n = yTrue.length;
  const cm = labels.map(() => new Array<number>(k).fill(0));
  for (let s = 0; s < n; s++) {
    const t = index.get(String(yTrue[s]));
    const p = index.get(String(yPred[s]));
    if (t === undefined) fail(`yTrue[${s}] is ${JSON.stringify(yTrue[s])}, which is not in labels`);
    if (p === undefined) fail(`yPred[${s}] is ${JSON.stringify(yPred[s])}, which is not in labels`);
    cm[t!]![p!]!++;
  }
  const perClass: Record<string, ClassScores> = {};
  let correct = 0;
  let sumP = 0;
  let sumR = 0;
  let sumF1 = 0;
  let weightedF1 = 0;
  for (let c = 0; c < k; c++) {
    const tp = cm[c]![c]!;
    correct += tp;
    let predicted = 0;
    for (let r = 0; r < k; r++) predicted += cm[r]![c]!;
    const support = cm[c]!.reduce((a, b) => a + b, 0);
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    perClass[labels[c]!] = { precision, recall, f1, support };
    sumP += precision;
    sumR += recall;
    sumF1 += f1;
    weightedF1 += f1 * support;
  }
  const result: ClassificationMetrics = {
    labels,
    count: n,
    accuracy: correct / n,
    macroPrecision: sumP / k,
    macroRecall: sumR / k,
    macroF1: sumF1 / k,
    weightedF1: weightedF1 / n,
    perClass,
    confusionMatrix: cm,
    classBalance: Object.fromEntries(labels.map((l) => [l, perClass[l]!.support])),
    baseline: majorityBaseline(yTrue.map(String), options.trainLabels, labels, fail),
    neverPredicted: labels.filter((l, c) => perClass[l]!.support > 0 && cm.every((row) => row[c] === 0)),
  };
  if (options.probabilities !== undefined) {
    const probs = options.probabilities;
    if (!Array.isArray(probs) || probs.length !== n)
      fail(`"probabilities" must have one row per sample (${n})`);
    for (const [s, row] of probs.entries()) {
      if (!Array.isArray(row) || row.length !== k)
        fail(`probabilities[${s}] must have ${k} values, one per label`);
      if (row.some((v) => typeof v !== 'number' || !(v >= 0 && v <= 1))) {
        fail(`probabilities[${s}] must hold numbers between 0 and 1`);
      }
    }
    const bins = options.bins ?? 10;
    if (!Number.isInteger(bins) || bins < 1) fail(`option "bins" must be a positive integer, got ${bins}`);
    result.roc = {};
    const aucs: number[] = [];
    for (let c = 0; c < k; c++) {
      const curve = rocCurve(
        probs.map((row) => row[c]!),
        yTrue.map((y) => String(y) === labels[c]),
      );
      result.roc[labels[c]!] = curve;
      if (curve.auc !== null) aucs.push(curve.auc);
    }
    result.macroAuc = aucs.length === 0 ? null : aucs.reduce((a, b) => a + b, 0) / aucs.length;
    result.calibration = calibrationTable(
      probs,
      yTrue.map((y) => index.get(String(y))!),
      bins,
    );
  }
  return result;
}

/**
 * The scores of always predicting the most frequent class of `trainLabels`
 * (of `yTrue` without them); ties go to the label that sorts first.
 */
function majorityBaseline(
  yTrue: readonly string[],
  trainLabels: readonly string[] | undefined,
  labels: readonly string[],
  fail: (message: string) => never,
): ClassificationBaseline {
  if (trainLabels !== undefined && (!Array.isArray(trainLabels) || trainLabels.length === 0))
    fail('option "trainLabels" must be a non-empty array of labels');
  const counts = new Map<string, number>();
  for (const label of trainLabels ?? yTrue) counts.set(String(label), (counts.get(String(label)) ?? 0) + 1);
  const label = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  const hits = yTrue.filter((y) => y === label).length;
  const n = yTrue.length;
  // Only the majority class has a non-zero F1: precision hits/n, recall 1 (when it occurs at all).
  const precision = hits / n;
  const f1 = hits === 0 ? 0 : (2 * precision) / (precision + 1);
  const k = new Set([...labels, label]).size;
  return { label, accuracy: hits / n, macroF1: f1 / k };
}

/**
 * The ROC curve of scores against binary truth: one point per distinct score
 * (tied scores move together), and the area under it by trapezoids.
 */
export function rocCurve(scores: readonly number[], positive: readonly boolean[]): RocCurve {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const P = positive.filter(Boolean).length;
  const N = positive.length - P;
  if (P === 0 || N === 0) return { fpr: [], tpr: [], thresholds: [], auc: null };
  const fpr = [0];
  const tpr = [0];
  const thresholds = [scores[order[0]!]! + 1];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    if (positive[s]) tp++;
    else fp++;
    const next = order[i + 1];
    if (next === undefined || scores[next] !== scores[s]) {
      fpr.push(fp / N);
      tpr.push(tp / P);
      thresholds.push(scores[s]!);
    }
  }
  let auc = 0;
  for (let i = 1; i < fpr.length; i++) auc += ((fpr[i]! - fpr[i - 1]!) * (tpr[i]! + tpr[i - 1]!)) / 2;
  return { fpr, tpr, thresholds, auc };
}

/** Top-label reliability table over equal-width confidence bins. */
export function calibrationTable(
  probabilities: readonly number[][],
  truth: readonly number[],
  bins = 10,
): Calibration {
  const count = new Array<number>(bins).fill(0);
  const confidence = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  for (const [s, row] of probabilities.entries()) {
    let top = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[top]!) top = c;
    const p = row[top]!;
    const b = Math.min(bins - 1, Math.floor(p * bins));
    count[b]!++;
    confidence[b]! += p;
    if (top === truth[s]) hits[b]!++;
  }
  const n = probabilities.length;
  let ece = 0;
  const table: CalibrationBin[] = count.map((c, b) => {
    const conf = c === 0 ? null : confidence[b]! / c;
    const acc = c === 0 ? null : hits[b]! / c;
    if (c > 0) ece += (c / n) * Math.abs(acc! - conf!);
    return { lower: b / bins, upper: (b + 1) / bins, count: c, confidence: conf, accuracy: acc };
  });
  return { bins: table, ece };
}

/**
 * A flat name → number map of the headline scores, for the core `metrics`
 * artifact and promotion gates: `accuracy`, `macro_f1`, `weighted_f1`,
 * `macro_precision`, `macro_recall`, `baseline_accuracy` and `baseline_macro_f1`
 * (the majority class), `never_predicted` (how many classes the model never
 * predicts), `f1.<label>`, and with probabilities
 * `macro_auc`, `auc.<label>` and `ece`.
 */
export function metricsSummary(m: ClassificationMetrics): Record<string, number> {
  const out: Record<string, number> = {
    accuracy: m.accuracy,
    macro_f1: m.macroF1,
    weighted_f1: m.weightedF1,
    macro_precision: m.macroPrecision,
    macro_recall: m.macroRecall,
    baseline_accuracy: m.baseline.accuracy,
    baseline_macro_f1: m.baseline.macroF1,
    never_predicted: m.neverPredicted.length,
  };
  for (const label of m.labels) out[`f1.${label}`] = m.perClass[label]!.f1;
  if (m.macroAuc !== undefined && m.macroAuc !== null) out.macro_auc = m.macroAuc;
  if (m.roc) {
    for (const label of m.labels) {
      const auc = m.roc[label]?.auc;
      if (auc !== null && auc !== undefined) out[`auc.${label}`] = auc;
    }
  }
  if (m.calibration) out.ece = m.calibration.ece;
  return out;
}
