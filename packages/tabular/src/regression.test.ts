import { describe, expect, it } from 'vitest';
import { checkMarkup } from '../test/xml';
import { regressionMetrics, regressionSummary } from './regression';
import { regressionReport } from './report';
import { predictedVsActualSvg, residualsSvg } from './svg';

describe('regressionMetrics on a hand-worked example', () => {
  // y:      2   4   6   8
  // ŷ:      3   4   5  10     residuals −1 0 1 −2
  const y = [2, 4, 6, 8];
  const yhat = [3, 4, 5, 10];
  const m = regressionMetrics(y, yhat);

  it('computes RMSE, MAE, R², MAPE and the residual facts', () => {
    expect(m.count).toBe(4);
    // Σe² = 1 + 0 + 1 + 4 = 6
    expect(m.rmse).toBeCloseTo(Math.sqrt(6 / 4), 12);
    expect(m.mae).toBeCloseTo(4 / 4, 12);
    // ȳ = 5, Σ(y − ȳ)² = 9 + 1 + 1 + 9 = 20
    expect(m.r2).toBeCloseTo(1 - 6 / 20, 12);
    expect(m.mape).toBeCloseTo((1 / 2 + 0 + 1 / 6 + 2 / 8) / 4, 12);
    expect(m.meanResidual).toBeCloseTo(-2 / 4, 12);
    expect(m.maxAbsError).toBe(2);
  });

  it('scores the mean predictor as the baseline', () => {
    // Predicting ȳ = 5 everywhere: errors 3 1 1 3.
    expect(m.baseline).toEqual({ mean: 5, rmse: Math.sqrt(20 / 4), mae: 2, r2: 0 });
    // With the training mean 4 instead: errors 2 0 2 4 → Σe² = 24, R² = 1 − 24/20.
    const trained = regressionMetrics(y, yhat, { baselineMean: 4 });
    expect(trained.baseline.rmse).toBeCloseTo(Math.sqrt(24 / 4), 12);
    expect(trained.baseline.mae).toBeCloseTo(8 / 4, 12);
    expect(trained.baseline.r2).toBeCloseTo(1 - 24 / 20, 12);
  });

  it('summarizes flat, with skill = 1 − rmse / baseline rmse', () => {
    const s = regressionSummary(m);
    expect(Object.keys(s).sort()).toEqual(
      ['baseline_mae', 'baseline_rmse', 'mae', 'mape', 'r2', 'rmse', 'skill'].sort(),
    );
    expect(s.skill).toBeCloseTo(1 - Math.sqrt(6 / 4) / Math.sqrt(5), 12);
  });

  it('leaves MAPE undefined when every target is 0, and R² is 1 only for a perfect model of constant targets', () => {
    expect(regressionMetrics([0, 0], [1, -1]).mape).toBeNull();
    expect(regressionSummary(regressionMetrics([0, 0], [1, -1]))).not.toHaveProperty('mape');
    expect(regressionMetrics([3, 3], [3, 3]).r2).toBe(1);
    expect(regressionMetrics([3, 3], [3, 4]).r2).toBe(0);
  });

  it('refuses mismatched lengths, no samples and non-finite values', () => {
    expect(() => regressionMetrics([1, 2], [1])).toThrow(/2 values, yPred has 1/);
    expect(() => regressionMetrics([], [])).toThrow(/no samples/);
    expect(() => regressionMetrics([1, Number.NaN], [1, 2])).toThrow(/yTrue\[1\]/);
    expect(() => regressionMetrics([1, 2], [1, 2], { baselineMean: Number.POSITIVE_INFINITY })).toThrow(
      /baselineMean/,
    );
  });
});

describe('regression charts and report', () => {
  const actual = [10, 20, 30, 40];
  const predicted = [12, 18, 33, 39];

  it('draws one dot per sample and the reference line', () => {
    const svg = predictedVsActualSvg(actual, predicted, { valueName: 'mpg' });
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('Actual mpg');
    const residuals = residualsSvg(actual, predicted);
    expect(residuals.match(/<circle /g)).toHaveLength(4);
    expect(residuals).toContain('Residual');
  });

  it('thins a large sample to maxPoints and says so', () => {
    const many = Array.from({ length: 50 }, (_, i) => i);
    const svg = predictedVsActualSvg(many, many, { maxPoints: 10 });
    expect(svg.match(/<circle /g)).toHaveLength(10);
    expect(svg).toContain('10 of 50 points');
  });

  it('refuses arrays of different lengths', () => {
    expect(() => residualsSvg([1, 2], [1])).toThrow(/equal length/);
    expect(() => predictedVsActualSvg([1, Number.NaN], [1, 2])).toThrow(/actual/);
  });

  it('reports scores beside the baseline, both charts and feature importance; warns when the model is no better than the mean', () => {
    const m = regressionMetrics(actual, predicted);
    const html = regressionReport(m, actual, predicted, {
      targetName: 'mpg',
      featureImportance: { weight: 0.7, year: 0.3 },
    });
    expect(html).toContain('<h2>Predicted vs actual</h2>');
    expect(html).toContain('<h2>Residuals</h2>');
    expect(html).toContain('<h2>Feature importance</h2>');
    expect(html).toContain('baseline (mean)');
    checkMarkup(html, 'html');
    expect(html).not.toContain('no better than the mean');
    const flat = [20, 30, 30, 20];
    const bad = regressionReport(regressionMetrics(actual, flat), actual, flat);
    expect(bad).toContain('Warning: no better than the mean');
  });
});
