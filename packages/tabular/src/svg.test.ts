import { describe, expect, it } from 'vitest';
import { checkMarkup } from '../test/xml';
import { escapeHtml, htmlReport, markdownToHtml } from './html';
import { classificationMetrics } from './metrics';
import { barChartSvg, calibrationSvg, confusionMatrixSvg, histogramSvg, rocCurveSvg } from './svg';

const nasty = `<b>Adélie & "co" 'x'</b>`;
const escaped = '&lt;b&gt;Adélie &amp; &quot;co&quot; &#39;x&#39;&lt;/b&gt;';

const metrics = classificationMetrics(['a', 'a', 'b', 'b', nasty, nasty], ['a', 'b', 'b', 'b', nasty, 'a'], {
  labels: ['a', 'b', nasty],
  probabilities: [
    [0.8, 0.1, 0.1],
    [0.4, 0.5, 0.1],
    [0.1, 0.8, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.1, 0.8],
    [0.5, 0.2, 0.3],
  ],
});

const charts: Record<string, string> = {
  confusion: confusionMatrixSvg(metrics.confusionMatrix, metrics.labels, { title: `Matrix ${nasty}` }),
  bar: barChartSvg({ a: 0.5, [nasty]: 0.75, negative: -0.25 }, { title: nasty, xLabel: nasty, yLabel: 'F1' }),
  roc: rocCurveSvg(metrics.roc!, { title: nasty }),
  calibration: calibrationSvg(metrics.calibration!),
  histogram: histogramSvg([1, 2, 2, 3, 3, 3, Number.NaN, 10], { bins: 5, title: nasty, xLabel: 'mass (g)' }),
};

describe('SVG charts', () => {
  it('the markup check itself refuses broken markup', () => {
    expect(() => checkMarkup('<svg><text>a & b</text></svg>')).toThrow(/bare &/);
    expect(() => checkMarkup('<svg><text>a < b</text></svg>')).toThrow(/bare </);
    expect(() => checkMarkup('<svg><g></svg>')).toThrow(/does not close/);
    expect(() => checkMarkup('<svg a=b/>')).toThrow(/quoted/);
    expect(() => checkMarkup('<svg a="<"/>')).toThrow(/< inside attribute/);
    expect(() => checkMarkup('<svg/><svg/>')).not.toThrow();
    expect(checkMarkup('<svg><title>x &amp; y</title></svg>')).toEqual(['svg']);
  });

  for (const [name, svg] of Object.entries(charts)) {
    it(`${name}: one well-formed <svg> root with a namespace, viewBox and title`, () => {
      expect(checkMarkup(svg)).toEqual(['svg']);
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+"/);
      expect(svg).toMatch(/<title>[^<]+<\/title>/);
      expect(svg).not.toContain(nasty);
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    });
  }

  it('escapes labels with < & " and quotes in text and attributes', () => {
    expect(charts.confusion).toContain(`<title>Matrix ${escaped}</title>`);
    expect(charts.confusion).toContain(`aria-label="Matrix ${escaped}"`);
    // Long labels are clipped, but what is left is still escaped.
    expect(charts.confusion).toContain('&lt;b&gt;Adélie &amp; &quot;');
    expect(charts.bar).toContain(`<title>${escaped}</title>`);
    expect(charts.roc).toContain('&lt;b&gt;Adélie');
  });

  it('confusion matrix shows each count and axis titles', () => {
    const texts = [...charts.confusion!.matchAll(/<text[^>]*font-size="14"[^>]*>([^<]*)<\/text>/g)].map(
      (m) => m[1],
    );
    expect(texts).toEqual(metrics.confusionMatrix.flat().map(String));
    expect(charts.confusion).toContain('>Predicted</text>');
    expect(charts.confusion).toContain('>Actual</text>');
  });

  it('bar chart draws one bar per value, in order, with value labels', () => {
    expect(charts.bar!.match(/<rect [^>]*fill="#0072B2"/g)).toHaveLength(3);
    expect(charts.bar).toContain('>0.75</text>');
    expect(charts.bar).toContain('>-0.25</text>');
    expect(charts.bar).toContain('>F1</text>');
  });

  it('ROC chart has one curve per class and gives AUCs in the legend', () => {
    expect(charts.roc!.match(/<polyline /g)).toHaveLength(3);
    expect(charts.roc).toContain(`(AUC ${metrics.roc!.a!.auc!.toFixed(3)})`);
    expect(charts.roc).toContain('>False positive rate</text>');
  });

  it('calibration chart puts the ECE in its title', () => {
    expect(charts.calibration).toContain(`Calibration (ECE ${metrics.calibration!.ece.toFixed(3)})`);
  });

  it('histogram counts finite values into bins', () => {
    // 1..10 in 5 bins of width 1.8: [1,2.8) has 1,2,2 → 3; [2.8,4.6) has 3,3,3 → 3; 10 in the last.
    const titles = [...charts.histogram!.matchAll(/<rect [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(titles).toEqual(['1 – 2.8: 3', '2.8 – 4.6: 3', '8.2 – 10: 1']);
  });

  it('refuses a matrix that does not match its labels', () => {
    expect(() => confusionMatrixSvg([[1, 2]], ['a'])).toThrow(/must be 1 × 1/);
    expect(() => barChartSvg({ a: Number.NaN })).toThrow(/finite number/);
  });
});

describe('htmlReport', () => {
  const page = htmlReport({
    title: `Evaluation ${nasty}`,
    subtitle: 'run r_123',
    sections: [
      {
        heading: 'Summary',
        markdown: `Accuracy is **0.97** on \`test\`.\n\n- one <script>\n- two & three\n\n| a | b |\n| --- | --- |\n| 1 | x\\|y |`,
      },
      { heading: 'Confusion matrix', svg: charts.confusion! },
      {
        heading: 'Per class',
        table: [
          { label: nasty, f1: 0.123456 },
          { label: 'b', f1: null },
        ],
      },
      { heading: 'Raw', html: '<p class="note">trusted</p>', table: { columns: ['k'], rows: [[1]] } },
    ],
  });

  it('is a well-formed self-contained page with inline CSS and no scripts', () => {
    expect(checkMarkup(page, 'html')).toEqual(['html']);
    expect(page).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(page).toContain('<style>');
    expect(page).not.toMatch(/<script|<link|src="http/);
  });

  it('escapes text everywhere but trusted html and svg', () => {
    expect(page).toContain(`<title>Evaluation ${escaped}</title>`);
    expect(page).toContain(`<td>${escaped}</td>`);
    expect(page).toContain('<li>one &lt;script&gt;</li>');
    expect(page).toContain('<p class="note">trusted</p>');
    expect(page).toContain('<figure><svg xmlns=');
  });

  it('renders Markdown emphasis, code, lists and pipe tables', () => {
    expect(page).toContain('<p>Accuracy is <strong>0.97</strong> on <code>test</code>.</p>');
    expect(page).toContain('<li>two &amp; three</li>');
    expect(page).toContain('<td>x|y</td>');
    expect(page).toContain('<td class="num">0.1235</td>');
  });

  it('markdownToHtml shifts headings under the section heading', () => {
    expect(markdownToHtml('# Top\n## Next')).toBe('<h3>Top</h3>\n<h4>Next</h4>');
    expect(escapeHtml(nasty)).toBe(escaped);
  });
});
