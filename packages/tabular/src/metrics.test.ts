import { canonicalJson } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { classificationMetrics, metricsSummary, rocCurve } from './metrics';

describe('classificationMetrics on a hand-worked 3-class, 10-sample example', () => {
  //            true: a a a a b b b c c c
  //       predicted: a a b c b b a c c b
  const yTrue = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'];
  const yPred = ['a', 'a', 'b', 'c', 'b', 'b', 'a', 'c', 'c', 'b'];
  const m = classificationMetrics(yTrue, yPred);

  it('builds the confusion matrix (rows true, columns predicted)', () => {
    expect(m.labels).toEqual(['a', 'b', 'c']);
    expect(m.confusionMatrix).toEqual([
      [2, 1, 1],
      [1, 2, 0],
      [0, 1, 2],
    ]);
  });

  it('computes accuracy and per-class precision, recall, F1 and support', () => {
    expect(m.accuracy).toBe(0.6); // 6 of 10 on the diagonal
    // a: precision 2/3 (column 2+1+0), recall 2/4, F1 = 2·(2/3·1/2)/(2/3+1/2) = 4/7
    expect(m.perClass.a!.precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.a!.recall).toBeCloseTo(1 / 2, 12);
    expect(m.perClass.a!.f1).toBeCloseTo(4 / 7, 12);
    expect(m.perClass.a!.support).toBe(4);
    // b: precision 2/4, recall 2/3, F1 4/7
    expect(m.perClass.b!.precision).toBeCloseTo(1 / 2, 12);
    expect(m.perClass.b!.recall).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.b!.f1).toBeCloseTo(4 / 7, 12);
    // c: precision 2/3, recall 2/3, F1 2/3
    expect(m.perClass.c!.f1).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.c!.support).toBe(3);
  });

  it('averages: macro over classes, weighted by support', () => {
    expect(m.macroF1).toBeCloseTo((4 / 7 + 4 / 7 + 2 / 3) / 3, 12); // 38/63
    expect(m.weightedF1).toBeCloseTo((4 * (4 / 7) + 3 * (4 / 7) + 3 * (2 / 3)) / 10, 12); // 0.6
    expect(m.macroPrecision).toBeCloseTo(11 / 18, 12);
    expect(m.macroRecall).toBeCloseTo(11 / 18, 12);
  });

  it('scores a class never predicted as 0 precision, and keeps labels given in options', () => {
    const r = classificationMetrics(['x', 'y'], ['x', 'x'], { labels: ['y', 'x', 'z'] });
    expect(r.labels).toEqual(['y', 'x', 'z']);
    expect(r.perClass.y).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(r.perClass.z).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(r.confusionMatrix).toEqual([
      [0, 1, 0],
      [0, 1, 0],
      [0, 0, 0],
    ]);
  });

  it('refuses mismatched lengths and labels outside options.labels', () => {
    expect(() => classificationMetrics(['a'], ['a', 'b'])).toThrow(/yTrue has 1 labels, yPred has 2/);
    expect(() => classificationMetrics(['a'], ['q'], { labels: ['a'] })).toThrow(
      /yPred\[0\] is "q", which is not in labels/,
    );
  });
});

describe('ROC curves', () => {
  it('traces a hand-worked binary curve and its AUC (share of correctly ranked pairs)', () => {
    // positives score 0.9, 0.7, 0.6; negatives 0.8, 0.55, 0.4 → 7 of 9 pairs ranked right
    const curve = rocCurve([0.9, 0.8, 0.7, 0.6, 0.55, 0.4], [true, false, true, true, false, false]);
    expect(curve.fpr).toEqual([0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]);
    expect(curve.tpr).toEqual([0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1]);
    expect(curve.thresholds).toEqual([1.9, 0.9, 0.8, 0.7, 0.6, 0.55, 0.4]);
    expect(curve.auc).toBeCloseTo(7 / 9, 12);
  });

  it('moves tied scores together (a tie counts half)', () => {
    const curve = rocCurve([0.5, 0.5], [true, false]);
    expect(curve.fpr).toEqual([0, 1]);
    expect(curve.auc).toBe(0.5);
  });

  it('has no AUC for a class without negatives or positives', () => {
    expect(rocCurve([0.1, 0.2], [true, true]).auc).toBeNull();
  });
});

describe('classificationMetrics with probabilities', () => {
  // columns: a, b, c
  const probabilities = [
    [0.9, 0.05, 0.05], // true a, top a 0.9 → right
    [0.2, 0.7, 0.1], // true c, top b 0.7 → wrong
    [0.4, 0.35, 0.25], // true a, top a 0.4 → right
    [0.3, 0.3, 0.4], // true b, top c 0.4 → wrong
  ];
  const yTrue = ['a', 'c', 'a', 'b'];
  const yPred = ['a', 'b', 'a', 'c'];
  const m = classificationMetrics(yTrue, yPred, { probabilities, bins: 2 });

  it('gives one-vs-rest AUCs per class and their mean', () => {
    // a: positives 0.9, 0.4 above negatives 0.3, 0.2 → 1
    expect(m.roc!.a!.auc).toBe(1);
    // b: the one positive (0.3) beats only 0.05 of 0.05, 0.7, 0.35 → 1/3
    expect(m.roc!.b!.auc).toBeCloseTo(1 / 3, 12);
    // c: the one positive (0.1) beats only 0.05 of 0.05, 0.25, 0.4 → 1/3
    expect(m.roc!.c!.auc).toBeCloseTo(1 / 3, 12);
    expect(m.macroAuc).toBeCloseTo(5 / 9, 12);
  });

  it('builds the reliability table and the expected calibration error', () => {
    // bin [0, 0.5): confidences 0.4, 0.4, one right → accuracy 0.5, confidence 0.4
    // bin [0.5, 1]: confidences 0.9, 0.7, one right → accuracy 0.5, confidence 0.8
    const [low, high] = m.calibration!.bins;
    expect(low).toMatchObject({ lower: 0, upper: 0.5, count: 2, accuracy: 0.5 });
    expect(low!.confidence).toBeCloseTo(0.4, 12);
    expect(high).toMatchObject({ lower: 0.5, upper: 1, count: 2, accuracy: 0.5 });
    expect(high!.confidence).toBeCloseTo(0.8, 12);
    // ECE = 2/4·|0.5−0.4| + 2/4·|0.5−0.8| = 0.05 + 0.15
    expect(m.calibration!.ece).toBeCloseTo(0.2, 12);
  });

  it('marks empty bins with nulls and stays valid canonical JSON', () => {
    const ten = classificationMetrics(yTrue, yPred, { probabilities });
    expect(ten.calibration!.bins).toHaveLength(10);
    expect(ten.calibration!.bins[0]).toEqual({
      lower: 0,
      upper: 0.1,
      count: 0,
      confidence: null,
      accuracy: null,
    });
    expect(() => canonicalJson(ten)).not.toThrow();
  });

  it('refuses probability rows of the wrong width', () => {
    expect(() => classificationMetrics(['a', 'b'], ['a', 'b'], { probabilities: [[1], [0]] })).toThrow(
      /probabilities\[0\] must have 2 values/,
    );
  });

  it('flattens the headline numbers for a metrics artifact', () => {
    const flat = metricsSummary(m);
    expect(flat.accuracy).toBe(0.5);
    expect(flat['auc.a']).toBe(1);
    expect(flat.ece).toBeCloseTo(0.2, 12);
    expect(Object.values(flat).every((v) => typeof v === 'number' && Number.isFinite(v))).toBe(true);
  });
});

describe('classificationMetrics: class balance, majority baseline, classes never predicted', () => {
  //  true: a a a a a b b c   predicted: a a a a b b b a  (c is never predicted)
  const yTrue = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'c'];
  const yPred = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'a'];
  const m = classificationMetrics(yTrue, yPred);

  it('counts rows per class and names the classes the model never predicts', () => {
    expect(m.classBalance).toEqual({ a: 5, b: 2, c: 1 });
    expect(m.neverPredicted).toEqual(['c']);
    expect(metricsSummary(m).never_predicted).toBe(1);
  });

  it('scores always predicting the majority class', () => {
    // "a" everywhere: 5 of 8 right; F1(a) = 2·(5/8)·1/(5/8 + 1) = 10/13, others 0.
    expect(m.baseline.label).toBe('a');
    expect(m.baseline.accuracy).toBe(5 / 8);
    expect(m.baseline.macroF1).toBeCloseTo(10 / 13 / 3, 12);
    expect(metricsSummary(m).baseline_accuracy).toBe(5 / 8);
  });

  it('takes the majority of the training labels when given', () => {
    const withTrain = classificationMetrics(yTrue, yPred, { trainLabels: ['b', 'b', 'a'] });
    expect(withTrain.baseline).toMatchObject({ label: 'b', accuracy: 2 / 8 });
    expect(() => classificationMetrics(yTrue, yPred, { trainLabels: [] })).toThrow(/trainLabels/);
  });

  it('a model that predicts every class has none never predicted', () => {
    expect(classificationMetrics(['a', 'b'], ['a', 'b']).neverPredicted).toEqual([]);
  });
});
