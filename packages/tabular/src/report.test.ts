import { describe, expect, it } from 'vitest';
import { checkMarkup } from '../test/xml';
import { classificationMetrics } from './metrics';
import { classificationReport } from './report';

describe('classificationReport', () => {
  const yTrue = ['a', 'a', 'b', 'b', 'c', 'c'];
  const yPred = ['a', 'b', 'b', 'b', 'c', 'a'];
  const probabilities = [
    [0.8, 0.1, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.8, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.1, 0.8],
    [0.5, 0.1, 0.4],
  ];

  it('shows scores, the confusion matrix, per-class bars, ROC, calibration and the model', () => {
    const m = classificationMetrics(yTrue, yPred, { labels: ['a', 'b', 'c'], probabilities });
    const html = classificationReport(m, {
      title: 'Toy <classifier>',
      labelName: 'letter',
      model: {
        artifact: 'abc123',
        manifest: {
          flavor: 'toy',
          libraries: { 'ml-x': '1.0.0' },
          metadata: { hyperparameters: { depth: 3 } },
        },
      },
    });
    expect(html).toContain('Toy &lt;classifier&gt;');
    expect(html).toContain('Confusion matrix');
    expect(html).toContain('Precision per letter');
    expect(html).toContain('ROC curves');
    expect(html).toContain('Calibration');
    expect(html).toMatch(/library ml-x[\s\S]*1\.0\.0/);
    // 4 of 6 right: the headline accuracy is in the page
    expect(html).toMatch(/accuracy[\s\S]{0,80}0\.66/);
    expect(checkMarkup(html, 'html')).toContain('html');
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(5);
  });

  it('leaves out ROC and calibration without probabilities', () => {
    const html = classificationReport(classificationMetrics(yTrue, yPred));
    expect(html).not.toContain('ROC curves');
    expect(html).not.toContain('Calibration');
    expect(html).toContain('Classifier evaluation');
  });
});

describe('classificationReport: class balance, baseline, never-predicted warning, feature importance', () => {
  it('warns about a class the model never predicts and shows the balance and the baseline', () => {
    const m = classificationMetrics(['a', 'a', 'a', 'b'], ['a', 'a', 'a', 'a']);
    const html = classificationReport(m, { featureImportance: { x: 2, y: 5 } });
    checkMarkup(html, 'html');
    expect(html).toContain('<h2>Warning: classes never predicted</h2>');
    expect(html).toMatch(/never predicts <strong>b<\/strong>/);
    expect(html).toContain('<h2>Class balance</h2>');
    expect(html).toContain('baseline accuracy (always &quot;a&quot;)');
    expect(html).toContain('<h2>Feature importance</h2>');
    // Sorted largest first: y before x.
    const chart = html.slice(html.indexOf('<h2>Feature importance</h2>'));
    expect(chart.indexOf('y: 5')).toBeLessThan(chart.indexOf('x: 2'));
  });

  it('has no warning when every class is predicted', () => {
    const html = classificationReport(classificationMetrics(['a', 'b'], ['a', 'b']));
    expect(html).not.toContain('never predicted');
  });
});
