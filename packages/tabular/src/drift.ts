import {
  CairnError,
  ErrorCodes,
  type ErrorIssue,
  json,
  report,
  reportHtml,
  type StepDefinition,
  step,
} from '@cairn/core';
import {
  chiSquareSf,
  histogram,
  jensenShannonDistance,
  ksTwoSample,
  normalCdf,
  populationStabilityIndex,
  quantileBins,
  wassersteinDistanceNormed,
} from '@cairn/stats';
import { table } from './artifact';
import { escapeHtml as esc, formatNumber, htmlReport, type ReportSection } from './html';
import { PALETTE } from './svg';
import type { CellValue, ColumnType, Table } from './table';

/** Options of {@link detectDrift}, and the config of {@link driftStep}. */
export interface DriftOptions {
  /** Columns to compare. @default every column of the reference */
  columns?: string[];
  /** Columns to leave out (an id, a timestamp that always moves). @default [] */
  ignore?: string[];
  /**
   * A column has drifted when its Population Stability Index reaches this.
   * By the usual rule of thumb < 0.1 is stable, 0.1–0.25 a moderate shift.
   * @default 0.2
   */
  psiThreshold?: number;
  /**
   * …or when the test that the two samples share one distribution (KS for
   * numbers, χ² for categories) gives a p-value below this. Small, because a
   * monitor looks every day: at 0.05 one column in twenty would raise a false
   * alarm on identical data.
   * @default 0.001
   */
  pValueThreshold?: number;
  /**
   * Fewest present values a column needs on each side to be judged; with
   * fewer, its statistics are reported but it never counts as drifted.
   * @default 30
   */
  minRows?: number;
  /** Quantile bins of the reference for the PSI of number and date columns. @default 10 */
  bins?: number;
  /**
   * Which rules judge the columns. `cairn` (the default): PSI over quantile
   * bins and a KS or χ² homogeneity p-value per column, any drifted column
   * makes the data set drifted. `evidently`: Evidently's default data drift
   * preset — per column the test Evidently picks by type and size (see
   * docs/statistics.md) at its thresholds (p < 0.05, distances ≥ 0.1), and
   * the data set drifts when at least `driftShare` of the columns do.
   * @default 'cairn'
   */
  preset?: DriftPreset;
  /**
   * One test for every column it applies to, instead of the preset's choice:
   * `ks` and `wasserstein` (normed by the reference's standard deviation) for
   * numbers, `chi-square`, `z` and `jensenshannon` for both kinds. A column
   * the test does not apply to keeps the preset's choice.
   * @default 'auto'
   */
  test?: DriftTest | 'auto';
  /** A distance test (Jensen–Shannon, normed Wasserstein) flags a column at or above this. @default 0.1 */
  distanceThreshold?: number;
  /** `evidently` preset: the data set drifts when this share of the judged columns drift. @default 0.5 */
  driftShare?: number;
  /**
   * `cairn` preset: a column has also drifted when its share of missing values rose by at least
   * this (0.1: ten points) and by more than chance (a one-sided two-proportion z-test below
   * `pValueThreshold`), however few values are left to compare: a feature a client stopped
   * sending is imputed, and its present values alone may look as they always did.
   * @default 0.1
   */
  missingRateThreshold?: number;
}

/** The rule sets of {@link detectDrift}. */
export type DriftPreset = 'cairn' | 'evidently';

/**
 * Per-column drift tests: two-sample Kolmogorov–Smirnov, χ² (homogeneity in
 * the `cairn` preset, goodness of fit against the reference's shares in the
 * `evidently` one, as Evidently computes it), the two-proportion z-test of
 * the first category's share, the Jensen–Shannon distance and the
 * Wasserstein distance normed by the reference's standard deviation.
 */
export type DriftTest = 'ks' | 'chi-square' | 'z' | 'jensenshannon' | 'wasserstein';

/** One side of a column comparison. */
export interface DriftSample {
  /** Rows in the table. */
  rows: number;
  /** Rows with a value in this column. */
  present: number;
  /** Share of rows without a value (0 for an empty table). */
  missingRate: number;
  /** Mean of the present values (number and date columns; dates in epoch milliseconds). */
  mean?: number;
  /** How often each value occurs (string and boolean columns), most frequent first. */
  categories?: Record<string, number>;
}

/** Counts of both samples over the same bins. */
export interface DriftBins {
  /** One label per bin: a value range (`[39.2, 42.1)`) or a category. */
  labels: string[];
  reference: number[];
  current: number[];
}

/** The comparison of one column. */
export interface ColumnDrift {
  column: string;
  /** The column's type in the reference. */
  type: ColumnType;
  /** `numeric` for number and date columns, `categorical` for string and boolean ones. */
  kind: 'numeric' | 'categorical';
  drifted: boolean;
  /** Why the column counts as drifted, one sentence each; empty when it does not. */
  reasons: string[];
  /** False when a side has fewer than `minRows` present values (or the column cannot be compared). */
  judged: boolean;
  /** A remark: why the column was not judged, or why a PSI over the threshold did not count. */
  note?: string;
  /** Population Stability Index over `bins`; `null` when it could not be computed. */
  psi: number | null;
  /**
   * The PSI that sampling alone exceeds with probability `pValueThreshold`
   * at these sample sizes (n·m/(n+m)·PSI is about χ² with bins − 1 degrees
   * of freedom when nothing changed). PSI counts as drift only above it too,
   * so small samples do not raise the large-sample rule of thumb by chance.
   */
  psiNoise: number | null;
  /** Which test gave `statistic` and `pValue` (see {@link DriftTest}). */
  test: DriftTest | null;
  /** The test's statistic; for a distance test, the distance that is compared with `distanceThreshold`. */
  statistic: number | null;
  /** The test's p-value; `null` for a distance test. */
  pValue: number | null;
  /**
   * Why the column was left out: it cannot drift meaningfully (a date or
   * time, date strings, an identifier whose values are all distinct). Such a
   * column is neither judged nor counted; name it in `columns` to compare it
   * anyway.
   */
  skipped?: string;
  reference: DriftSample;
  /** `null` when the column is missing from the current table. */
  current: DriftSample | null;
  /** Current missing rate minus the reference's. */
  missingRateChange: number | null;
  /** The bins the PSI was computed over: reference quantiles (open-ended outer bins) or categories (unseen ones last). */
  bins: DriftBins | null;
  /** Number and date columns: equal-width bins over both samples' range, for the chart. */
  histogram?: DriftBins;
}

/** What {@link detectDrift} finds: plain JSON, stored as the drift step's `drift` output. */
export interface DriftReport {
  /** True when any compared column drifted (a column missing from the current data counts). */
  drifted: boolean;
  /** One line for people: which columns drifted, or that none did. */
  summary: string;
  /** The drifted columns, in column order. */
  driftedColumns: string[];
  /** Columns left out because they cannot drift meaningfully (see `ColumnDrift.skipped`). */
  skippedColumns: string[];
  /** The rule set that judged the columns. */
  preset: DriftPreset;
  /** Drifted columns / compared columns (skipped ones left out); 0 with none. */
  driftShare: number;
  thresholds: {
    psi: number;
    pValue: number;
    minRows: number;
    distance: number;
    /** `evidently` preset: the share of drifted columns at which the data set drifts. */
    driftShare?: number;
    /** `cairn` preset: the rise in a column's share of missing values that counts as drift. */
    missingRate?: number;
  };
  reference: { rows: number };
  current: { rows: number };
  /** Columns of the current table the reference does not have (reported, not drift). */
  extraColumns: string[];
  columns: ColumnDrift[];
}

/**
 * Whether a stored JSON value is a drift report: what `cairn drift` and the
 * dashboard use to find the drift step's output among a run's artifacts.
 */
export function isDriftReport(value: unknown): value is DriftReport {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DriftReport).drifted === 'boolean' &&
    typeof (value as DriftReport).summary === 'string' &&
    Array.isArray((value as DriftReport).columns) &&
    typeof (value as DriftReport).thresholds?.psi === 'number'
  );
}

const DEFAULTS = {
  psiThreshold: 0.2,
  pValueThreshold: 0.001,
  minRows: 30,
  bins: 10,
  missingRateThreshold: 0.1,
};
/** Evidently's defaults: p-value tests at 0.05, every non-empty column judged, data set drift at half the columns. */
const EVIDENTLY_DEFAULTS = { pValueThreshold: 0.05, minRows: 1, driftShare: 0.5 };
const DISTANCE_THRESHOLD = 0.1;
const TESTS: readonly DriftTest[] = ['ks', 'chi-square', 'z', 'jensenshannon', 'wasserstein'];
const OPTION_KEYS = [
  'columns',
  'ignore',
  'psiThreshold',
  'pValueThreshold',
  'minRows',
  'bins',
  'preset',
  'test',
  'distanceThreshold',
  'driftShare',
  'missingRateThreshold',
];
/** Fewest values before "all distinct" reads as an identifier rather than chance. */
const IDENTIFIER_MIN_VALUES = 20;
const CHART_BINS = 12;

/** Check drift options; each problem names the option (key path) and what was expected. */
function optionIssues(options: Record<string, unknown>): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  const push = (key: string | Array<string | number>, message: string) =>
    issues.push({ path: Array.isArray(key) ? key : [key], message });
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key) && options[key] !== undefined) {
      push(key, `unknown option; expected one of ${OPTION_KEYS.join(', ')}`);
    }
  }
  const { psiThreshold, pValueThreshold, minRows, bins } = options;
  if (psiThreshold !== undefined && !(typeof psiThreshold === 'number' && psiThreshold > 0)) {
    push('psiThreshold', `expected a positive number, got ${JSON.stringify(psiThreshold)}`);
  }
  if (
    pValueThreshold !== undefined &&
    !(typeof pValueThreshold === 'number' && pValueThreshold > 0 && pValueThreshold < 1)
  ) {
    push('pValueThreshold', `expected a number between 0 and 1, got ${JSON.stringify(pValueThreshold)}`);
  }
  if (minRows !== undefined && !(Number.isInteger(minRows) && (minRows as number) >= 1)) {
    push('minRows', `expected a whole number >= 1, got ${JSON.stringify(minRows)}`);
  }
  if (bins !== undefined && !(Number.isInteger(bins) && (bins as number) >= 2 && (bins as number) <= 100)) {
    push('bins', `expected a whole number from 2 to 100, got ${JSON.stringify(bins)}`);
  }
  const { preset, test, distanceThreshold, driftShare } = options;
  if (preset !== undefined && preset !== 'cairn' && preset !== 'evidently') {
    push('preset', `expected "cairn" or "evidently", got ${JSON.stringify(preset)}`);
  }
  if (test !== undefined && test !== 'auto' && !TESTS.includes(test as DriftTest)) {
    push('test', `expected one of auto, ${TESTS.join(', ')}; got ${JSON.stringify(test)}`);
  }
  if (distanceThreshold !== undefined && !(typeof distanceThreshold === 'number' && distanceThreshold > 0)) {
    push('distanceThreshold', `expected a positive number, got ${JSON.stringify(distanceThreshold)}`);
  }
  if (driftShare !== undefined && !(typeof driftShare === 'number' && driftShare > 0 && driftShare <= 1)) {
    push('driftShare', `expected a number in (0, 1], got ${JSON.stringify(driftShare)}`);
  }
  const { missingRateThreshold: missing } = options;
  if (missing !== undefined && !(typeof missing === 'number' && missing > 0 && missing <= 1)) {
    push('missingRateThreshold', `expected a number in (0, 1], got ${JSON.stringify(missing)}`);
  }
  for (const key of ['columns', 'ignore']) {
    const list = options[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) push(key, 'expected a list of column names');
    else
      list.forEach((name, i) => {
        if (typeof name !== 'string' || name === '') push([key, i], 'expected a column name');
      });
  }
  return issues;
}

const pathOf = (issue: ErrorIssue) =>
  (issue.path ?? []).map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/**
 * Compare a current sample of data (today's inputs) with a reference (the
 * training data), column by column.
 *
 * - number and date columns: PSI over the reference's quantile bins (outer
 *   bins open-ended, so values beyond the reference's range count), the
 *   two-sample Kolmogorov–Smirnov p-value, and both means;
 * - string and boolean columns: PSI over category frequencies (a category
 *   the reference never had is a bin of its own) and the χ² homogeneity
 *   p-value;
 * - both: the change in the share of missing values.
 *
 * A column drifts when PSI ≥ `psiThreshold` or p < `pValueThreshold`, given
 * at least `minRows` present values on both sides. A column the current
 * table lacks, or holds with another type, drifts too. Pure: no I/O.
 *
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, for bad options or
 *   a `columns` entry the reference does not have
 * @example
 * ```ts
 * const drift = detectDrift(training, today, { ignore: ['id'] });
 * if (drift.drifted) console.log(drift.summary); // "Drift in 2 of 6 columns: island, body_mass_g"
 * ```
 */
export function detectDrift(
  reference: Table<any>,
  current: Table<any>,
  options: DriftOptions = {},
): DriftReport {
  const issues = optionIssues(options as Record<string, unknown>);
  const referenceColumns = reference.columnNames;
  options.columns?.forEach((name, i) => {
    if (typeof name === 'string' && !referenceColumns.includes(name)) {
      issues.push({
        path: ['columns', i],
        message: `the reference table has no column "${name}"; its columns are ${referenceColumns.join(', ')}`,
      });
    }
  });
  if (issues.length > 0) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `detectDrift: ${issues.map((i) => `option "${pathOf(i)}": ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  const preset = options.preset ?? 'cairn';
  const evidently = preset === 'evidently';
  const thresholds: DriftReport['thresholds'] = {
    psi: options.psiThreshold ?? DEFAULTS.psiThreshold,
    pValue:
      options.pValueThreshold ?? (evidently ? EVIDENTLY_DEFAULTS.pValueThreshold : DEFAULTS.pValueThreshold),
    minRows: options.minRows ?? (evidently ? EVIDENTLY_DEFAULTS.minRows : DEFAULTS.minRows),
    distance: options.distanceThreshold ?? DISTANCE_THRESHOLD,
    ...(evidently ? { driftShare: options.driftShare ?? EVIDENTLY_DEFAULTS.driftShare } : {}),
    ...(evidently ? {} : { missingRate: options.missingRateThreshold ?? DEFAULTS.missingRateThreshold }),
  };
  const settings: Settings = {
    preset,
    test: options.test ?? 'auto',
    thresholds,
    bins: options.bins ?? DEFAULTS.bins,
  };
  const ignore = new Set(options.ignore ?? []);
  const named = new Set(options.columns ?? []);
  const selected = (options.columns ?? referenceColumns).filter((name) => !ignore.has(name));
  const columns = selected.map((name) => compareColumn(name, reference, current, settings, named.has(name)));
  const compared = columns.filter((c) => c.skipped === undefined);
  const driftedColumns = compared.filter((c) => c.drifted).map((c) => c.column);
  const skippedColumns = columns.filter((c) => c.skipped !== undefined).map((c) => c.column);
  const unjudged = compared.filter((c) => !c.judged && !c.drifted).length;
  const driftShare = compared.length > 0 ? driftedColumns.length / compared.length : 0;
  const drifted = evidently
    ? driftedColumns.length > 0 && driftShare >= thresholds.driftShare!
    : driftedColumns.length > 0;
  const summary = [
    driftedColumns.length > 0
      ? `Drift in ${driftedColumns.length} of ${compared.length} columns: ${driftedColumns.join(', ')}`
      : `No drift in ${compared.length} columns`,
    evidently
      ? `; data set ${drifted ? 'drifted' : 'not drifted'} (${formatNumber(Math.round(driftShare * 1000) / 10)}% of columns, threshold ${formatNumber(thresholds.driftShare! * 100)}%)`
      : '',
    ` (reference ${reference.numRows} rows, current ${current.numRows} rows)`,
    unjudged > 0 ? `; ${unjudged} not judged, fewer than ${thresholds.minRows} values` : '',
    skippedColumns.length > 0 ? `; skipped ${skippedColumns.join(', ')}` : '',
  ].join('');
  return {
    drifted,
    summary,
    driftedColumns,
    skippedColumns,
    preset,
    driftShare,
    thresholds,
    reference: { rows: reference.numRows },
    current: { rows: current.numRows },
    extraColumns: current.columnNames.filter((name) => !referenceColumns.includes(name)),
    columns,
  };
}

interface Settings {
  preset: DriftPreset;
  test: DriftTest | 'auto';
  thresholds: DriftReport['thresholds'];
  bins: number;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const ID_NAME = /^(?:id|.*[_\- ]id|.*[a-z]Id|.*ID)$/;

/**
 * Why a column cannot drift meaningfully, or undefined. A date or time
 * always moves forward, so any sample of tomorrow's dates lies outside the
 * reference (PSI in the several units); an identifier has only "new
 * categories". Both would raise an alarm on every run and hide real drift.
 */
function uninformative(name: string, type: ColumnType, values: Array<number | string>): string | undefined {
  if (type === 'date') {
    return 'a date or time moves forward by nature, so it always drifts; compare features derived from it (weekday, hour) instead';
  }
  if (values.length < IDENTIFIER_MIN_VALUES) return undefined;
  if (type === 'string') {
    if ((values as string[]).every((v) => ISO_DATE.test(v))) {
      return 'date strings (YYYY-MM-DD…) move forward by nature, so they always drift; compare features derived from them instead';
    }
    if (new Set(values).size === values.length) {
      return 'every reference value is distinct (an identifier): new data can only bring unseen values';
    }
  }
  if (type === 'number' && ID_NAME.test(name)) {
    const numbers = values as number[];
    if (numbers.every(Number.isInteger) && new Set(numbers).size === numbers.length) {
      return 'distinct whole numbers in an id column (an identifier): new data can only bring unseen values';
    }
  }
  return undefined;
}

function compareColumn(
  name: string,
  reference: Table<any>,
  current: Table<any>,
  settings: Settings,
  named: boolean,
): ColumnDrift {
  const { thresholds, bins } = settings;
  const type = reference.columnType(name)!;
  const kind = type === 'number' || type === 'date' ? 'numeric' : 'categorical';
  const refValues = presentValues(kind, reference.column(name));
  const refSample = sample(kind, reference.numRows, refValues);
  const base = {
    column: name,
    type,
    kind,
    reference: refSample,
    psi: null,
    psiNoise: null,
    test: null,
    statistic: null,
    pValue: null,
    bins: null,
  } as const;
  const skipped = named ? undefined : uninformative(name, type, refValues);
  const currentType = current.columnType(name);
  if (skipped !== undefined) {
    const curValues = currentType === type ? presentValues(kind, current.column(name)) : undefined;
    const curSample = curValues ? sample(kind, current.numRows, curValues) : null;
    return {
      ...base,
      drifted: false,
      reasons: [],
      judged: false,
      skipped,
      note: `skipped: ${skipped}`,
      current: curSample,
      missingRateChange: curSample ? curSample.missingRate - refSample.missingRate : null,
    };
  }
  if (currentType === undefined) {
    return {
      ...base,
      drifted: true,
      reasons: ['the column is missing from the current data'],
      judged: false,
      current: null,
      missingRateChange: null,
    };
  }
  const curValues = presentValues(kind, current.column(name));
  const curSample = sample(kind, current.numRows, curValues);
  const missingRateChange = curSample.missingRate - refSample.missingRate;
  if (currentType !== type) {
    return {
      ...base,
      drifted: true,
      reasons: [`the column's type changed from ${type} to ${currentType}`],
      judged: false,
      current: curSample,
      missingRateChange,
    };
  }
  const comparison =
    refValues.length > 0 && curValues.length > 0
      ? kind === 'numeric'
        ? compareNumbers(refValues as number[], curValues as number[], bins)
        : compareCategories(refValues as string[], curValues as string[])
      : undefined;
  const chosen =
    comparison && refValues.length > 0 && curValues.length > 0
      ? chooseTest(settings, kind, refValues, curValues)
      : undefined;
  if (comparison && chosen && !(settings.preset === 'cairn' && chosen === defaultCairnTest(kind))) {
    Object.assign(comparison, runTest(chosen, settings.preset, kind, refValues, curValues));
  }
  const enough = refSample.present >= thresholds.minRows && curSample.present >= thresholds.minRows;
  const out: ColumnDrift = {
    ...base,
    ...comparison,
    drifted: false,
    reasons: [],
    judged: enough,
    current: curSample,
    missingRateChange,
  };
  const missingRose = missingRise(refSample, curSample, thresholds);
  if (!enough) {
    // An emptied column is drift however few rows the reference had values in.
    if (curSample.present === 0 && refSample.present > 0 && current.numRows >= thresholds.minRows) {
      out.drifted = true;
      out.judged = true;
      out.reasons.push(`every value is missing in the current data (${current.numRows} rows)`);
    } else if (missingRose) {
      out.drifted = true;
      out.judged = true;
      out.reasons.push(missingRose);
    } else {
      const side = refSample.present < thresholds.minRows ? 'reference' : 'current';
      const count = side === 'reference' ? refSample.present : curSample.present;
      out.note = `not judged: ${count} present values in the ${side} data, fewer than minRows (${thresholds.minRows})`;
    }
    return out;
  }
  if (settings.preset === 'cairn' && out.psi !== null && out.bins !== null) {
    const degrees = out.bins.labels.length - 1;
    out.psiNoise =
      degrees > 0
        ? chiSquareQuantile(1 - thresholds.pValue, degrees) * (1 / refSample.present + 1 / curSample.present)
        : 0;
    if (out.psi >= thresholds.psi) {
      if (out.psi >= out.psiNoise) out.reasons.push(`PSI ${formatNumber(out.psi)} ≥ ${thresholds.psi}`);
      else {
        out.note = `PSI ${formatNumber(out.psi)} ≥ ${thresholds.psi} but within sampling noise at these sample sizes (up to ${formatNumber(out.psiNoise)})`;
      }
    }
  }
  if (out.pValue !== null && out.pValue < thresholds.pValue) {
    out.reasons.push(`${TEST_NAMES[out.test!]} p-value ${formatNumber(out.pValue)} < ${thresholds.pValue}`);
  }
  if (out.pValue === null && out.statistic !== null && out.statistic >= thresholds.distance) {
    out.reasons.push(`${TEST_NAMES[out.test!]} ${formatNumber(out.statistic)} ≥ ${thresholds.distance}`);
  }
  if (missingRose) out.reasons.push(missingRose);
  out.drifted = out.reasons.length > 0;
  return out;
}

/**
 * Why a column's share of missing values counts as drift (`cairn` preset), or undefined: it rose
 * by at least `thresholds.missingRate`, both tables have `minRows` rows, and a one-sided
 * two-proportion z-test puts the rise beyond chance (p below `thresholds.pValue`).
 */
function missingRise(
  reference: DriftSample,
  current: DriftSample,
  thresholds: DriftReport['thresholds'],
): string | undefined {
  const limit = thresholds.missingRate;
  const rise = current.missingRate - reference.missingRate;
  if (limit === undefined || rise < limit) return undefined;
  if (reference.rows < thresholds.minRows || current.rows < thresholds.minRows) return undefined;
  const missing = reference.missingRate * reference.rows + current.missingRate * current.rows;
  const pooled = missing / (reference.rows + current.rows);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / reference.rows + 1 / current.rows));
  const pValue = se === 0 ? 0 : normalCdf(-rise / se);
  if (pValue >= thresholds.pValue) return undefined;
  const percent = (rate: number) => `${formatNumber(rate * 100)} %`;
  return `missing values rose from ${percent(reference.missingRate)} to ${percent(current.missingRate)} (≥ ${formatNumber(limit * 100)} points, p ${formatNumber(pValue)} < ${thresholds.pValue})`;
}

const TEST_LABELS: Record<DriftTest, string> = {
  ks: 'KS',
  'chi-square': 'χ²',
  z: 'z',
  jensenshannon: 'Jensen–Shannon',
  wasserstein: 'Wasserstein (normed)',
};

const TEST_NAMES: Record<DriftTest, string> = {
  ks: 'Kolmogorov–Smirnov',
  'chi-square': 'χ²',
  z: 'z-test',
  jensenshannon: 'Jensen–Shannon distance',
  wasserstein: 'Wasserstein distance (normed)',
};

const defaultCairnTest = (kind: ColumnDrift['kind']): DriftTest => (kind === 'numeric' ? 'ks' : 'chi-square');
const distinctCount = (a: ReadonlyArray<number | string>, b: ReadonlyArray<number | string>) =>
  new Set([...a, ...b]).size;

/**
 * The test for one column: the `test` option where it applies, else the
 * preset's choice. Evidently's (registry `_get_default_stattest`): with ≤ 1000
 * reference values, numbers with > 5 distinct values (both samples) get KS,
 * 3–5 χ², ≤ 2 the z-test, categories χ² (> 2 values) or z; with more,
 * numbers with > 5 distinct values get the normed Wasserstein distance, the
 * rest Jensen–Shannon.
 */
function chooseTest(
  settings: Settings,
  kind: ColumnDrift['kind'],
  reference: Array<number | string>,
  current: Array<number | string>,
): DriftTest {
  const forced = settings.test;
  if (forced !== 'auto' && !(kind === 'categorical' && (forced === 'ks' || forced === 'wasserstein'))) {
    return forced;
  }
  if (settings.preset === 'cairn') return defaultCairnTest(kind);
  const distinct = distinctCount(reference, current);
  if (reference.length <= 1000) {
    if (kind === 'numeric' && distinct > 5) return 'ks';
    return distinct > 2 ? 'chi-square' : 'z';
  }
  return kind === 'numeric' && distinct > 5 ? 'wasserstein' : 'jensenshannon';
}

/** Counts per key over the keys of both samples, as Evidently's `value_counts` over the union. */
function countsByKey(reference: Array<number | string>, current: Array<number | string>) {
  const keys = [...new Set([...reference, ...current])];
  const count = (values: Array<number | string>) => {
    const map = new Map<number | string, number>();
    for (const v of values) map.set(v, (map.get(v) ?? 0) + 1);
    return keys.map((k) => map.get(k) ?? 0);
  };
  return { keys, reference: count(reference), current: count(current) };
}

/**
 * Evidently's binning for Jensen–Shannon: numbers with more than 20 distinct
 * reference values in Sturges equal-width bins over both samples (numpy's
 * `histogram_bin_edges(bins='sturges')`), anything else by value.
 */
function evidentlyBinnedCounts(
  kind: ColumnDrift['kind'],
  reference: Array<number | string>,
  current: Array<number | string>,
): { reference: number[]; current: number[] } {
  if (kind === 'numeric' && new Set(reference).size > 20) {
    const all = [...(reference as number[]), ...(current as number[])];
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of all) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const width = (hi - lo) / (Math.log2(all.length) + 1);
    const bins = Math.ceil((hi - lo) / width);
    const step = (hi - lo) / bins;
    const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * step);
    edges[bins] = hi;
    return {
      reference: histogram(reference as number[], edges),
      current: histogram(current as number[], edges),
    };
  }
  return countsByKey(reference, current);
}

function runTest(
  test: DriftTest,
  preset: DriftPreset,
  kind: ColumnDrift['kind'],
  reference: Array<number | string>,
  current: Array<number | string>,
): { test: DriftTest; statistic: number; pValue: number | null } {
  switch (test) {
    case 'ks': {
      const ks = ksTwoSample(reference as number[], current as number[]);
      return { test, statistic: ks.statistic, pValue: ks.pValue };
    }
    case 'wasserstein':
      return {
        test,
        statistic: wassersteinDistanceNormed(reference as number[], current as number[]),
        pValue: null,
      };
    case 'jensenshannon': {
      const binned = evidentlyBinnedCounts(kind, reference, current);
      return { test, statistic: jensenShannonDistance(binned.reference, binned.current), pValue: null };
    }
    case 'z': {
      // As Evidently: the share of values other than the first (in sorted order), pooled two-proportion z.
      const first = [...new Set([...reference, ...current])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0];
      const p1 = reference.filter((v) => v !== first).length / reference.length;
      const p2 = current.filter((v) => v !== first).length / current.length;
      const pooled = (p1 * reference.length + p2 * current.length) / (reference.length + current.length);
      const se = Math.sqrt(pooled * (1 - pooled) * (1 / reference.length + 1 / current.length));
      const statistic = se === 0 ? 0 : (p1 - p2) / se;
      return { test, statistic, pValue: se === 0 ? 1 : 2 * normalCdf(-Math.abs(statistic)) };
    }
    case 'chi-square': {
      const counts = countsByKey(reference, current);
      if (preset === 'cairn') {
        const { statistic, pValue } = chiSquareHomogeneity(counts.reference, counts.current);
        return { test, statistic, pValue };
      }
      // Evidently: goodness of fit of the current counts to the reference's shares.
      const scale = current.length / reference.length;
      let statistic = 0;
      for (let i = 0; i < counts.keys.length; i++) {
        const expected = counts.reference[i]! * scale;
        const observed = counts.current[i]!;
        // A value the reference never had cannot be expected: infinitely unlikely.
        if (expected === 0) statistic = observed > 0 ? Number.POSITIVE_INFINITY : statistic;
        else statistic += (observed - expected) ** 2 / expected;
      }
      const df = counts.keys.length - 1;
      return { test, statistic, pValue: df > 0 ? chiSquareSf(statistic, df) : 1 };
    }
  }
}

/** χ² test of homogeneity on the 2 × k table of counts. */
function chiSquareHomogeneity(
  refCounts: number[],
  curCounts: number[],
): { statistic: number; pValue: number } {
  const refTotal = refCounts.reduce((a, b) => a + b, 0);
  const curTotal = curCounts.reduce((a, b) => a + b, 0);
  const total = refTotal + curTotal;
  let statistic = 0;
  for (let i = 0; i < refCounts.length; i++) {
    const column = refCounts[i]! + curCounts[i]!;
    const expectedRef = (refTotal * column) / total;
    const expectedCur = (curTotal * column) / total;
    statistic +=
      (refCounts[i]! - expectedRef) ** 2 / expectedRef + (curCounts[i]! - expectedCur) ** 2 / expectedCur;
  }
  const df = refCounts.length - 1;
  return { statistic, pValue: df > 0 ? chiSquareSf(statistic, df) : 1 };
}

/** The q-quantile of χ² with `df` degrees of freedom, by bisection on its survival function. */
function chiSquareQuantile(q: number, df: number): number {
  let lo = 0;
  let hi = Math.max(1, df);
  while (chiSquareSf(hi, df) > 1 - q) hi *= 2;
  for (let i = 0; i < 100 && hi - lo > 1e-9 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSf(mid, df) > 1 - q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Present values: finite numbers (dates as epoch ms) or category strings. */
function presentValues(kind: ColumnDrift['kind'], values: readonly CellValue[]): Array<number | string> {
  const out: Array<number | string> = [];
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (kind === 'numeric') {
      const n = v instanceof Date ? v.getTime() : (v as number);
      if (Number.isFinite(n)) out.push(n);
    } else out.push(String(v));
  }
  return out;
}

function sample(kind: ColumnDrift['kind'], rows: number, values: Array<number | string>): DriftSample {
  const out: DriftSample = {
    rows,
    present: values.length,
    missingRate: rows === 0 ? 0 : (rows - values.length) / rows,
  };
  if (kind === 'numeric') {
    if (values.length > 0) {
      let sum = 0;
      for (const v of values as number[]) sum += v;
      out.mean = sum / values.length;
    }
  } else {
    out.categories = Object.fromEntries(sortedCounts(values as string[]));
  }
  return out;
}

/** Counts, most frequent first, ties by name (stable JSON). */
function sortedCounts(values: readonly string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function compareNumbers(reference: number[], current: number[], bins: number) {
  const edges = quantileBins(reference, bins);
  const refCounts = histogram(reference, edges);
  const curCounts = histogram(current, edges);
  const ks = ksTwoSample(reference, current);
  const labels = edges.slice(0, -1).map((lo, i) => {
    const hi = edges[i + 1]!;
    if (lo === Number.NEGATIVE_INFINITY && hi === Number.POSITIVE_INFINITY) return 'all values';
    if (lo === Number.NEGATIVE_INFINITY) return `< ${formatNumber(hi)}`;
    if (hi === Number.POSITIVE_INFINITY) return `≥ ${formatNumber(lo)}`;
    return `[${formatNumber(lo)}, ${formatNumber(hi)})`;
  });
  return {
    psi: populationStabilityIndex(refCounts, curCounts),
    test: 'ks' as DriftTest,
    statistic: ks.statistic,
    pValue: ks.pValue as number | null,
    bins: { labels, reference: refCounts, current: curCounts },
    histogram: equalWidthBins(reference, current),
  };
}

function equalWidthBins(reference: number[], current: number[]): DriftBins {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of [reference, current].flat()) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    // Half a unit either side, or a millionth of the value where half a unit is below its precision.
    const pad = Math.max(0.5, Math.abs(lo) * 1e-6);
    lo -= pad;
    hi += pad;
  }
  // Interpolated, not lo + (hi - lo) * i / bins: one served value of 1e308 made (hi - lo) * i
  // overflow to Infinity, and the histogram refused edges that no longer increased. A range
  // close to the precision of its numbers can round two edges together: each is kept once.
  const edges: number[] = [];
  for (let i = 0; i <= CHART_BINS; i++) {
    const t = i / CHART_BINS;
    const edge = i === CHART_BINS ? hi : lo * (1 - t) + hi * t;
    if (edges.length === 0 || edge > edges.at(-1)!) edges.push(edge);
  }
  return {
    labels: edges.slice(0, -1).map((e) => formatNumber(e)),
    reference: histogram(reference, edges),
    current: histogram(current, edges),
  };
}

function compareCategories(reference: string[], current: string[]) {
  const refOrder = sortedCounts(reference);
  const known = new Set(refOrder.map(([c]) => c));
  const unseen = sortedCounts(current.filter((c) => !known.has(c)));
  const labels = [...refOrder, ...unseen].map(([c]) => c);
  const count = (values: string[]) => {
    const map = new Map<string, number>();
    for (const v of values) map.set(v, (map.get(v) ?? 0) + 1);
    return labels.map((l) => map.get(l) ?? 0);
  };
  const refCounts = count(reference);
  const curCounts = count(current);
  const { statistic, pValue } = chiSquareHomogeneity(refCounts, curCounts);
  return {
    psi: populationStabilityIndex(refCounts, curCounts),
    test: 'chi-square' as DriftTest,
    statistic,
    pValue: pValue as number | null,
    bins: { labels, reference: refCounts, current: curCounts },
  };
}

/**
 * A self-contained HTML page of a drift report: the summary, a table of every
 * column's statistics, and per column a chart of both samples' shares side by
 * side. Wrap it with `reportHtml()` from @cairn/core to return a `report()`.
 */
export function driftReportHtml(drift: DriftReport, options: { title?: string } = {}): string {
  const p = (v: number | null | undefined) => (v === null || v === undefined ? '' : formatNumber(v));
  const overview: ReportSection = {
    heading: 'Columns',
    markdown: [
      drift.drifted ? `**${drift.summary}.**` : `${drift.summary}.`,
      '',
      drift.preset === 'evidently'
        ? `Evidently's preset: a column drifts when its test's p-value is below **${drift.thresholds.pValue}** or its distance reaches **${drift.thresholds.distance}**; the data set drifts when at least **${formatNumber((drift.thresholds.driftShare ?? 0) * 100)}%** of the columns do.`
        : `A column drifts when its PSI reaches **${drift.thresholds.psi}** or its test's p-value is below **${drift.thresholds.pValue}**, with at least ${drift.thresholds.minRows} values on both sides.`,
      drift.skippedColumns?.length
        ? `\nSkipped (cannot drift meaningfully): ${drift.columns
            .filter((c) => c.skipped !== undefined)
            .map((c) => `\`${c.column}\` (${c.skipped})`)
            .join('; ')}.`
        : '',
      drift.extraColumns.length > 0
        ? `\nColumns only in the current data (not compared): ${drift.extraColumns.map((c) => `\`${c}\``).join(', ')}.`
        : '',
    ].join('\n'),
    table: {
      columns: ['column', 'type', 'PSI', 'test', 'p-value or distance', 'missing (ref → cur)', 'drifted'],
      rows: drift.columns.map((c) => [
        c.column,
        c.type,
        p(c.psi),
        c.test === null ? '' : TEST_LABELS[c.test],
        c.pValue === null && c.statistic !== null ? `distance ${p(c.statistic)}` : p(c.pValue),
        `${percent(c.reference.missingRate)} → ${c.current ? percent(c.current.missingRate) : 'column missing'}`,
        c.drifted ? 'yes' : c.skipped !== undefined ? 'skipped' : c.judged ? 'no' : 'not judged',
      ]),
    },
  };
  const sections = drift.columns.map((c): ReportSection => {
    const facts: Array<[string, string | number]> = [
      ['PSI', p(c.psi)],
      ['PSI from sampling noise alone, up to', p(c.psiNoise)],
      [c.test === null ? 'statistic' : `${TEST_LABELS[c.test]} statistic`, p(c.statistic)],
      ['p-value', p(c.pValue)],
      ['values (reference / current)', `${c.reference.present} / ${c.current?.present ?? '—'}`],
      ['missing rate change', c.missingRateChange === null ? '' : percent(c.missingRateChange, true)],
    ];
    if (c.kind === 'numeric') {
      facts.push(['mean (reference / current)', `${p(c.reference.mean)} / ${p(c.current?.mean)}`]);
    }
    const verdict = c.drifted
      ? `**Drifted**: ${c.reasons.join('; ')}.`
      : c.judged
        ? `No drift${c.note ? ` (${c.note})` : ''}.`
        : `${c.note ?? 'Not judged'}.`;
    const chartBins = c.histogram ?? c.bins;
    return {
      heading: c.column,
      markdown: verdict,
      ...(chartBins
        ? {
            svg: sideBySideSvg(chartBins, c.kind === 'numeric' ? `${c.column} (equal-width bins)` : c.column),
          }
        : {}),
      table: { columns: ['statistic', 'value'], rows: facts },
    };
  });
  return htmlReport({
    title: options.title ?? 'Data drift',
    subtitle: `${drift.drifted ? 'Drift detected' : 'No drift'} · reference ${drift.reference.rows} rows · current ${drift.current.rows} rows`,
    sections: [overview, ...sections],
  });
}

const percent = (v: number, signed = false) =>
  `${signed && v > 0 ? '+' : ''}${formatNumber(Math.round(v * 1000) / 10)}%`;

/** Grouped bars of each sample's share per bin (shares, so samples of different sizes compare). */
function sideBySideSvg(bins: DriftBins, title: string): string {
  const shares = (counts: number[]) => {
    const total = counts.reduce((s, c) => s + c, 0);
    return counts.map((c) => (total > 0 ? c / total : 0));
  };
  const series = [
    { name: 'reference', values: shares(bins.reference), color: PALETTE[0]! },
    { name: 'current', values: shares(bins.current), color: PALETTE[1]! },
  ];
  const n = bins.labels.length;
  const left = 50;
  const top = 44;
  const plotHeight = 160;
  const slot = Math.max(22, Math.min(60, 480 / Math.max(n, 1)));
  const width = left + slot * n + 20;
  const height = top + plotHeight + 70;
  const max = Math.max(0.05, ...series.flatMap((s) => s.values));
  const yMax = Math.ceil(max * 10) / 10;
  const y = (v: number) => top + plotHeight - (v / yMax) * plotHeight;
  const f = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const body: string[] = [];
  for (const tick of [0, yMax / 2, yMax]) {
    body.push(
      `<line x1="${left}" x2="${f(left + slot * n)}" y1="${f(y(tick))}" y2="${f(y(tick))}" stroke="#d1d9e0"/>`,
      `<text x="${left - 6}" y="${f(y(tick) + 4)}" text-anchor="end" font-size="11">${Math.round(tick * 100)}%</text>`,
    );
  }
  const bar = slot * 0.38;
  for (let i = 0; i < n; i++) {
    for (const [s, { name, values, color }] of series.entries()) {
      const v = values[i]!;
      const x = left + i * slot + slot * 0.12 + s * bar;
      body.push(
        `<rect x="${f(x)}" y="${f(y(v))}" width="${f(bar)}" height="${f(top + plotHeight - y(v))}" fill="${color}"><title>${esc(`${bins.labels[i]} · ${name}: ${formatNumber(v * 100)}%`)}</title></rect>`,
      );
    }
    const lx = left + i * slot + slot / 2;
    const ly = top + plotHeight + 14;
    const label = bins.labels[i]!.length > 14 ? `${bins.labels[i]!.slice(0, 13)}…` : bins.labels[i]!;
    body.push(
      `<text x="${f(lx)}" y="${f(ly)}" text-anchor="end" font-size="11" transform="rotate(-35 ${f(lx)} ${f(ly)})">${esc(label)}</text>`,
    );
  }
  for (const [s, { name, color }] of series.entries()) {
    const x = left + s * 100;
    body.push(
      `<rect x="${x}" y="28" width="10" height="10" fill="${color}"/>`,
      `<text x="${x + 14}" y="37" font-size="11">${name}</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f(width)} ${height}" width="${f(width)}" height="${height}" role="img" aria-label="${esc(title)}" font-family="system-ui, sans-serif" font-size="12" fill="#1f2328">`,
    `<title>${esc(title)}</title>`,
    `<text x="${left}" y="18" font-size="14" font-weight="600">${esc(title)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

type DriftConfig = Required<Pick<DriftOptions, 'psiThreshold' | 'pValueThreshold' | 'minRows' | 'bins'>> &
  Pick<DriftOptions, 'columns' | 'ignore' | 'preset' | 'test' | 'distanceThreshold' | 'driftShare'>;

/** The step's config schema: a Standard Schema over the same checks as {@link detectDrift}. */
const driftConfig: NonNullable<StepDefinition<DriftConfig, {}, {}>['config']> = {
  '~standard': {
    version: 1,
    vendor: 'cairn',
    validate(value) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return {
          issues: [{ message: 'expected a mapping of drift options (psiThreshold, pValueThreshold, …)' }],
        };
      }
      const issues = optionIssues(value as Record<string, unknown>);
      if (issues.length > 0)
        return { issues: issues.map((i) => ({ message: i.message, path: i.path ?? [] })) };
      const options = value as DriftOptions;
      const evidently = options.preset === 'evidently';
      // Options left out stay out (rather than filled with defaults), so an existing
      // project's step config, and so its cache key, does not change.
      const given = <K extends keyof DriftOptions>(key: K) =>
        options[key] === undefined ? {} : { [key]: options[key] };
      return {
        value: {
          ...given('columns'),
          ...given('ignore'),
          ...given('preset'),
          ...given('test'),
          ...given('distanceThreshold'),
          ...given('driftShare'),
          ...given('missingRateThreshold'),
          psiThreshold: options.psiThreshold ?? DEFAULTS.psiThreshold,
          pValueThreshold:
            options.pValueThreshold ??
            (evidently ? EVIDENTLY_DEFAULTS.pValueThreshold : DEFAULTS.pValueThreshold),
          minRows: options.minRows ?? (evidently ? EVIDENTLY_DEFAULTS.minRows : DEFAULTS.minRows),
          bins: options.bins ?? DEFAULTS.bins,
        },
      };
    },
  },
};

/**
 * A monitoring step: compares the `current` table (live data) with the
 * `reference` table (the training data) with {@link detectDrift} and writes
 * the {@link DriftReport} as `drift` and an HTML page with a chart per column
 * as `report`. Config (`conf/base/<name>.yaml`): the {@link DriftOptions}.
 *
 * Like the promotion gate, it never fails the run for drift: `cairn drift`
 * reads `drift.drifted` and exits 1, so a scheduled workflow can retrain.
 *
 * @example
 * ```ts
 * const drift = driftStep();
 * export default pipeline('monitoring', () => {
 *   const { data: reference } = ingest();
 *   const { data: current } = ingest({}, { as: 'live' });
 *   drift({ reference, current });
 * });
 * ```
 */
export function driftStep(options: { name?: string } = {}) {
  return step({
    name: options.name ?? 'drift',
    description: 'Compare live data with the training reference, column by column',
    config: driftConfig,
    // Any row type: the step compares whatever columns the tables have.
    inputs: { reference: table<any>(), current: table<any>() },
    outputs: { drift: json<DriftReport>(), report: report() },
    run({ config, inputs, log }) {
      const drift = detectDrift(inputs.reference, inputs.current, config);
      if (drift.drifted) {
        for (const c of drift.columns.filter((c) => c.drifted))
          log.warn(`${c.column}: ${c.reasons.join('; ')}`);
        log.warn(drift.summary);
      } else log.info(drift.summary);
      return { drift, report: reportHtml(driftReportHtml(drift), { title: 'Data drift' }) };
    },
  });
}
