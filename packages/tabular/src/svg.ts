import { CairnError, ErrorCodes } from '@cairn/core';
import { escapeHtml as esc, formatNumber } from './html';
import type { Calibration, CalibrationBin } from './metrics';

/**
 * Colour-blind-safe categorical palette (Okabe & Ito), dark enough for text
 * and thin lines on white.
 */
export const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#D55E00',
  '#56B4E9',
  '#000000',
  '#999933',
];

/** Options every chart takes. */
export interface ChartOptions {
  /** Shown at the top and as the accessible name. */
  title?: string;
  /** Width of the viewBox in px. */
  width?: number;
  /** Height of the viewBox in px. */
  height?: number;
}

/** Options of {@link barChartSvg}. */
export interface BarChartOptions extends ChartOptions {
  xLabel?: string;
  yLabel?: string;
  /** Bar colour. @default PALETTE[0] */
  color?: string;
  /** `'desc'`: largest first. @default 'none' (the object's order) */
  sort?: 'none' | 'desc';
}

/** Options of {@link histogramSvg}. */
export interface HistogramOptions extends ChartOptions {
  /** Number of equal-width bins between the smallest and largest value. @default 20 */
  bins?: number;
  xLabel?: string;
  /** @default 'count' */
  yLabel?: string;
  color?: string;
}

/** Options of {@link confusionMatrixSvg}. */
export interface ConfusionMatrixOptions extends ChartOptions {
  /**
   * Colour cells by their share of the row (recall per class) rather than by
   * count, so that small classes stay visible. Cells always show the count.
   * @default true
   */
  normalize?: boolean;
}

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif';
const INK = '#1f2328';
const MUTED = '#59636e';
const GRID = '#d1d9e0';

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** A standalone SVG document; `body` must already be escaped markup. */
function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}" font-family="${FONT}" font-size="12" fill="${INK}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    title === ''
      ? ''
      : `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    ...body,
    '</svg>',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${fmt(x)}" y="${fmt(y)}"${attrs ? ` ${attrs}` : ''}>${esc(content)}</text>`;
}

/** About 10 round tick values covering [min, max]. */
function ticks(min: number, max: number, count = 5): number[] {
  if (min === max) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** [min, max] widened to whole tick steps, so the top gridline sits above the tallest bar. */
function niceDomain(min: number, max: number): [number, number] {
  if (min === max) return [min, min + 1];
  const t = ticks(min, max);
  const step = t.length > 1 ? t[1]! - t[0]! : max - min;
  return [Math.floor(min / step + 1e-9) * step, Math.ceil(max / step - 1e-9) * step];
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Axis lines, gridlines, tick labels and axis titles for a numeric y and (optionally) numeric x axis. */
function axes(
  frame: Frame,
  y: { min: number; max: number; label?: string | undefined },
  x?: { min: number; max: number; label?: string | undefined },
): string[] {
  const out: string[] = [];
  const sy = (v: number) => frame.top + frame.height - ((v - y.min) / (y.max - y.min || 1)) * frame.height;
  for (const t of ticks(y.min, y.max)) {
    const py = sy(t);
    out.push(
      `<line x1="${fmt(frame.left)}" x2="${fmt(frame.left + frame.width)}" y1="${fmt(py)}" y2="${fmt(py)}" stroke="${GRID}" stroke-width="1"/>`,
      text(frame.left - 6, py + 4, formatNumber(t), `text-anchor="end" fill="${MUTED}"`),
    );
  }
  if (x) {
    const sx = (v: number) => frame.left + ((v - x.min) / (x.max - x.min || 1)) * frame.width;
    for (const t of ticks(x.min, x.max)) {
      const px = sx(t);
      out.push(
        `<line x1="${fmt(px)}" x2="${fmt(px)}" y1="${fmt(frame.top + frame.height)}" y2="${fmt(frame.top + frame.height + 4)}" stroke="${MUTED}"/>`,
        text(px, frame.top + frame.height + 17, formatNumber(t), `text-anchor="middle" fill="${MUTED}"`),
      );
    }
    if (x.label) {
      out.push(
        text(frame.left + frame.width / 2, frame.top + frame.height + 36, x.label, 'text-anchor="middle"'),
      );
    }
  }
  out.push(
    `<line x1="${fmt(frame.left)}" x2="${fmt(frame.left)}" y1="${fmt(frame.top)}" y2="${fmt(frame.top + frame.height)}" stroke="${MUTED}"/>`,
    `<line x1="${fmt(frame.left)}" x2="${fmt(frame.left + frame.width)}" y1="${fmt(frame.top + frame.height)}" y2="${fmt(frame.top + frame.height)}" stroke="${MUTED}"/>`,
  );
  if (y.label) {
    const cx = frame.left - 46;
    const cy = frame.top + frame.height / 2;
    out.push(text(cx, cy, y.label, `text-anchor="middle" transform="rotate(-90 ${fmt(cx)} ${fmt(cy)})"`));
  }
  return out;
}

function checkNumbers(values: readonly unknown[], what: string): void {
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `${what}: value ${bad} is ${JSON.stringify(values[bad]) ?? String(values[bad])}, expected a finite number`,
    );
  }
}

/** Shorten long category labels so they fit under a bar or beside a matrix row. */
function clip(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

/**
 * A heat map of a confusion matrix (rows: actual class, columns: predicted
 * class) with the count in every cell.
 */
export function confusionMatrixSvg(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  options: ConfusionMatrixOptions = {},
): string {
  const k = labels.length;
  if (
    !Array.isArray(matrix) ||
    matrix.length !== k ||
    matrix.some((r) => !Array.isArray(r) || r.length !== k)
  ) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `confusionMatrixSvg: the matrix must be ${k} × ${k}, one row and column per label`,
    );
  }
  checkNumbers(matrix.flat(), 'confusionMatrixSvg');
  const title = options.title ?? 'Confusion matrix';
  const normalize = options.normalize ?? true;
  const longest = Math.min(18, Math.max(...labels.map((l) => l.length), 4));
  const cell = Math.max(36, Math.min(80, Math.floor(420 / Math.max(k, 1))));
  const left = 60 + longest * 7;
  const top = 50;
  const bottom = 40 + longest * 5;
  const width = options.width ?? left + k * cell + 30;
  const height = options.height ?? top + k * cell + bottom;
  const max = Math.max(1, ...matrix.flat());
  const body: string[] = [];
  for (let r = 0; r < k; r++) {
    const rowTotal = matrix[r]!.reduce((a: number, b: number) => a + b, 0);
    for (let c = 0; c < k; c++) {
      const v = matrix[r]![c]!;
      const share = normalize ? (rowTotal === 0 ? 0 : v / rowTotal) : v / max;
      const x = left + c * cell;
      const y = top + r * cell;
      body.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blues(share)}" stroke="#ffffff"><title>${esc(`actual ${labels[r]}, predicted ${labels[c]}: ${v}`)}</title></rect>`,
        text(
          x + cell / 2,
          y + cell / 2 + 5,
          formatNumber(v),
          `text-anchor="middle" font-size="14" fill="${share > 0.55 ? '#ffffff' : INK}"`,
        ),
      );
    }
    body.push(text(left - 8, top + r * cell + cell / 2 + 4, clip(labels[r]!, 18), 'text-anchor="end"'));
  }
  for (let c = 0; c < k; c++) {
    const x = left + c * cell + cell / 2;
    const y = top + k * cell + 14;
    body.push(
      text(x, y, clip(labels[c]!, 18), `text-anchor="end" transform="rotate(-35 ${fmt(x)} ${fmt(y)})"`),
    );
  }
  body.push(
    text(left + (k * cell) / 2, height - 8, 'Predicted', 'text-anchor="middle" font-weight="600"'),
    text(
      16,
      top + (k * cell) / 2,
      'Actual',
      `text-anchor="middle" font-weight="600" transform="rotate(-90 16 ${fmt(top + (k * cell) / 2)})"`,
    ),
  );
  return svgDocument(width, height, title, body);
}

/** White to dark blue for 0…1. */
function blues(t: number): string {
  const clamp = Math.max(0, Math.min(1, t));
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const rgb = from.map((f, i) => Math.round(f + (to[i]! - f) * clamp));
  return `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** A vertical bar chart of named values (feature importances, per-class F1, row counts). */
export function barChartSvg(values: Record<string, number>, options: BarChartOptions = {}): string {
  let entries = Object.entries(values);
  checkNumbers(
    entries.map(([, v]) => v),
    'barChartSvg',
  );
  if (options.sort === 'desc') entries = entries.sort((a, b) => b[1] - a[1]);
  const title = options.title ?? '';
  const longest = Math.min(16, Math.max(4, ...entries.map(([l]) => l.length)));
  const frame: Frame = { left: 70, top: 40, width: Math.max(240, entries.length * 48), height: 240 };
  const width = options.width ?? frame.left + frame.width + 20;
  const height = options.height ?? frame.top + frame.height + 30 + longest * 5 + (options.xLabel ? 20 : 0);
  frame.width = width - frame.left - 20;
  const lo = Math.min(0, ...entries.map(([, v]) => v));
  const hi = Math.max(0, ...entries.map(([, v]) => v));
  const [yMin, yMax] = niceDomain(lo, hi);
  const sy = (v: number) => frame.top + frame.height - ((v - yMin) / (yMax - yMin)) * frame.height;
  const body = axes(frame, { min: yMin, max: yMax, label: options.yLabel });
  const slot = frame.width / Math.max(entries.length, 1);
  const color = options.color ?? PALETTE[0]!;
  for (const [i, [label, v]] of entries.entries()) {
    const x = frame.left + i * slot + slot * 0.15;
    const y0 = sy(Math.max(0, v));
    const h = Math.abs(sy(v) - sy(0));
    body.push(
      `<rect x="${fmt(x)}" y="${fmt(y0)}" width="${fmt(slot * 0.7)}" height="${fmt(h)}" fill="${esc(color)}"><title>${esc(`${label}: ${formatNumber(v)}`)}</title></rect>`,
      text(x + slot * 0.35, y0 - 4, formatNumber(v), `text-anchor="middle" font-size="11" fill="${MUTED}"`),
    );
    const lx = x + slot * 0.35;
    const ly = frame.top + frame.height + 14;
    body.push(
      text(lx, ly, clip(label, 16), `text-anchor="end" transform="rotate(-35 ${fmt(lx)} ${fmt(ly)})"`),
    );
  }
  if (options.xLabel)
    body.push(text(frame.left + frame.width / 2, height - 8, options.xLabel, 'text-anchor="middle"'));
  return svgDocument(width, height, title, body);
}

/** A histogram of numbers (non-finite values are skipped). */
export function histogramSvg(values: readonly number[], options: HistogramOptions = {}): string {
  const bins = options.bins ?? 20;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `histogramSvg: option "bins" must be a positive integer, got ${bins}`,
    );
  }
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  const title = options.title ?? '';
  const width = options.width ?? 560;
  const height = options.height ?? 320;
  const frame: Frame = { left: 70, top: 40, width: width - 90, height: height - 40 - 60 };
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const counts = new Array<number>(bins).fill(0);
  for (const v of finite) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]!++;
  const top = Math.max(1, ...counts);
  const yMax = niceDomain(0, top)[1];
  const body = axes(
    frame,
    { min: 0, max: yMax, label: options.yLabel ?? 'count' },
    { min: lo, max: hi, label: options.xLabel },
  );
  const w = frame.width / bins;
  const color = options.color ?? PALETTE[0]!;
  for (const [b, c] of counts.entries()) {
    if (c === 0) continue;
    const h = (c / yMax) * frame.height;
    const from = lo + ((hi - lo) * b) / bins;
    const to = lo + ((hi - lo) * (b + 1)) / bins;
    body.push(
      `<rect x="${fmt(frame.left + b * w)}" y="${fmt(frame.top + frame.height - h)}" width="${fmt(Math.max(w - 1, 0.5))}" height="${fmt(h)}" fill="${esc(color)}"><title>${esc(`${formatNumber(from)} – ${formatNumber(to)}: ${c}`)}</title></rect>`,
    );
  }
  if (finite.length === 0)
    body.push(text(width / 2, height / 2, 'no values', `text-anchor="middle" fill="${MUTED}"`));
  return svgDocument(width, height, title, body);
}

/** A curve for {@link rocCurveSvg}: the `roc` entries of `classificationMetrics` fit. */
export interface RocCurveInput {
  fpr: readonly number[];
  tpr: readonly number[];
  auc?: number | null;
}

/** One-vs-rest ROC curves, one line per class, with the chance diagonal and a legend giving each AUC. */
export function rocCurveSvg(curves: Record<string, RocCurveInput>, options: ChartOptions = {}): string {
  const title = options.title ?? 'ROC curves';
  const longest = Math.max(0, ...Object.keys(curves).map((l) => Math.min(l.length, 12)));
  const legend = 40 + (longest + 12) * 7;
  const width = options.width ?? 400 + legend;
  const height = options.height ?? 400;
  const frame: Frame = { left: 70, top: 40, width: width - 80 - legend, height: height - 40 - 60 };
  const body = axes(
    frame,
    { min: 0, max: 1, label: 'True positive rate' },
    { min: 0, max: 1, label: 'False positive rate' },
  );
  const sx = (v: number) => frame.left + v * frame.width;
  const sy = (v: number) => frame.top + frame.height - v * frame.height;
  body.push(
    `<line x1="${fmt(sx(0))}" y1="${fmt(sy(0))}" x2="${fmt(sx(1))}" y2="${fmt(sy(1))}" stroke="${MUTED}" stroke-dasharray="4 4"/>`,
  );
  for (const [i, [label, curve]] of Object.entries(curves).entries()) {
    if (!Array.isArray(curve.fpr) || !Array.isArray(curve.tpr) || curve.fpr.length !== curve.tpr.length) {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `rocCurveSvg: curve "${label}" needs fpr and tpr of equal length`,
      );
    }
    checkNumbers([...curve.fpr, ...curve.tpr], `rocCurveSvg: curve "${label}"`);
    const color = PALETTE[i % PALETTE.length]!;
    if (curve.fpr.length > 0) {
      const points = curve.fpr.map((f, j) => `${fmt(sx(f))},${fmt(sy(curve.tpr[j]!))}`).join(' ');
      body.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    const ly = frame.top + 10 + i * 20;
    const lx = frame.left + frame.width + 16;
    const auc = curve.auc === undefined || curve.auc === null ? '' : ` (AUC ${curve.auc.toFixed(3)})`;
    body.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
      text(lx + 24, ly, clip(label, 12) + auc),
    );
  }
  return svgDocument(width, height, title, body);
}

/**
 * A reliability diagram: per confidence bin, the share of right predictions
 * (bars) against the mean confidence (dots), with the perfect-calibration
 * diagonal. Takes the `calibration` of `classificationMetrics` or its bins.
 */
export function calibrationSvg(
  table: Calibration | readonly CalibrationBin[],
  options: ChartOptions = {},
): string {
  const bins = Array.isArray(table) ? (table as readonly CalibrationBin[]) : (table as Calibration).bins;
  const ece = Array.isArray(table) ? undefined : (table as Calibration).ece;
  if (!Array.isArray(bins)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      'calibrationSvg: expected a calibration table (bins with lower, upper, accuracy)',
    );
  }
  const title = options.title ?? (ece === undefined ? 'Calibration' : `Calibration (ECE ${ece.toFixed(3)})`);
  const width = options.width ?? 480;
  const height = options.height ?? 440;
  const frame: Frame = { left: 70, top: 40, width: width - 90, height: height - 40 - 60 };
  const body = axes(frame, { min: 0, max: 1, label: 'Accuracy' }, { min: 0, max: 1, label: 'Confidence' });
  const sx = (v: number) => frame.left + v * frame.width;
  const sy = (v: number) => frame.top + frame.height - v * frame.height;
  body.push(
    `<line x1="${fmt(sx(0))}" y1="${fmt(sy(0))}" x2="${fmt(sx(1))}" y2="${fmt(sy(1))}" stroke="${MUTED}" stroke-dasharray="4 4"/>`,
  );
  for (const bin of bins) {
    checkNumbers([bin.lower, bin.upper], 'calibrationSvg: bin bounds');
    if (bin.accuracy === null || bin.accuracy === undefined || bin.count === 0) continue;
    const x = sx(bin.lower);
    const w = sx(bin.upper) - x;
    body.push(
      `<rect x="${fmt(x + 1)}" y="${fmt(sy(bin.accuracy))}" width="${fmt(Math.max(w - 2, 0.5))}" height="${fmt(sy(0) - sy(bin.accuracy))}" fill="${PALETTE[0]}" fill-opacity="0.75"><title>${esc(`${formatNumber(bin.lower)}–${formatNumber(bin.upper)}: ${bin.count} samples, accuracy ${formatNumber(bin.accuracy)}`)}</title></rect>`,
    );
    if (bin.confidence !== null && bin.confidence !== undefined) {
      body.push(
        `<circle cx="${fmt(sx(bin.confidence))}" cy="${fmt(sy(bin.confidence))}" r="3.5" fill="${PALETTE[4]}"/>`,
      );
    }
  }
  const lx = frame.left + 12;
  body.push(
    `<rect x="${lx}" y="${frame.top + 8}" width="12" height="12" fill="${PALETTE[0]}" fill-opacity="0.75"/>`,
    text(lx + 18, frame.top + 18, 'accuracy'),
    `<circle cx="${lx + 6}" cy="${frame.top + 32}" r="3.5" fill="${PALETTE[4]}"/>`,
    text(lx + 18, frame.top + 36, 'mean confidence'),
  );
  return svgDocument(width, height, title, body);
}

/** Options of {@link predictedVsActualSvg} and {@link residualsSvg}. */
export interface ScatterOptions extends ChartOptions {
  /**
   * Most points drawn; beyond it an evenly spaced subset is drawn (the
   * title says so), which keeps a report of a large test set small.
   * @default 2000
   */
  maxPoints?: number;
  /** What the target is called on the axes. @default 'value' */
  valueName?: string;
}

interface ScatterSpec {
  xs: readonly number[];
  ys: readonly number[];
  x: { min: number; max: number; label: string };
  y: { min: number; max: number; label: string };
  /** A reference line in data coordinates. */
  line: [number, number, number, number];
}

function scatter(spec: ScatterSpec, title: string, options: ScatterOptions): string {
  const width = options.width ?? 480;
  const height = options.height ?? 440;
  const frame: Frame = { left: 70, top: 40, width: width - 90, height: height - 40 - 60 };
  const body = axes(frame, spec.y, spec.x);
  const sx = (v: number) => frame.left + ((v - spec.x.min) / (spec.x.max - spec.x.min || 1)) * frame.width;
  const sy = (v: number) =>
    frame.top + frame.height - ((v - spec.y.min) / (spec.y.max - spec.y.min || 1)) * frame.height;
  const [x1, y1, x2, y2] = spec.line;
  body.push(
    `<line x1="${fmt(sx(x1))}" y1="${fmt(sy(y1))}" x2="${fmt(sx(x2))}" y2="${fmt(sy(y2))}" stroke="${MUTED}" stroke-dasharray="4 4"/>`,
  );
  const max = options.maxPoints ?? 2000;
  const n = spec.xs.length;
  const stride = n > max ? n / max : 1;
  for (let k = 0; k < Math.min(n, max); k++) {
    const i = Math.floor(k * stride);
    body.push(
      `<circle cx="${fmt(sx(spec.xs[i]!))}" cy="${fmt(sy(spec.ys[i]!))}" r="2.5" fill="${PALETTE[0]}" fill-opacity="0.6"/>`,
    );
  }
  const shown = n > max ? `${title} (${max} of ${n} points)` : title;
  return svgDocument(width, height, shown, body);
}

function checkPairs(a: readonly number[], b: readonly number[], what: string): void {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `${what}: actual and predicted must be arrays of equal length`,
    );
  }
  checkNumbers(a, `${what}: actual`);
  checkNumbers(b, `${what}: predicted`);
}

function extent(values: readonly number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return niceDomain(lo, hi);
}

/**
 * Predicted against actual values of a regression model, one dot per sample,
 * with the diagonal where a perfect model's dots would lie.
 */
export function predictedVsActualSvg(
  actual: readonly number[],
  predicted: readonly number[],
  options: ScatterOptions = {},
): string {
  checkPairs(actual, predicted, 'predictedVsActualSvg');
  const name = options.valueName ?? 'value';
  const [lo, hi] = extent([...actual, ...predicted]);
  return scatter(
    {
      xs: actual,
      ys: predicted,
      x: { min: lo, max: hi, label: `Actual ${name}` },
      y: { min: lo, max: hi, label: `Predicted ${name}` },
      line: [lo, lo, hi, hi],
    },
    options.title ?? 'Predicted vs actual',
    options,
  );
}

/**
 * Residuals (actual − predicted) against the predicted value, with the zero
 * line: a funnel or a curve shows errors that depend on the prediction.
 */
export function residualsSvg(
  actual: readonly number[],
  predicted: readonly number[],
  options: ScatterOptions = {},
): string {
  checkPairs(actual, predicted, 'residualsSvg');
  const name = options.valueName ?? 'value';
  const residuals = actual.map((a, i) => a - predicted[i]!);
  const [xLo, xHi] = extent(predicted);
  const reach = residuals.reduce((m, r) => Math.max(m, Math.abs(r)), 1e-9);
  const [, yHi] = niceDomain(0, reach);
  return scatter(
    {
      xs: predicted,
      ys: residuals,
      x: { min: xLo, max: xHi, label: `Predicted ${name}` },
      y: { min: -yHi, max: yHi, label: 'Residual (actual − predicted)' },
      line: [xLo, 0, xHi, 0],
    },
    options.title ?? 'Residuals',
    options,
  );
}
