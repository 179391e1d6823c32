import { CairnError } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { penguinsPath } from '../test/fixtures';
import { checkMarkup } from '../test/xml';
import { type DriftOptions, type DriftReport, detectDrift, driftReportHtml, driftStep } from './drift';
import { tableFromJson } from './io';
import { shuffle } from './random';
import { type Table, tableFromRows } from './table';

interface Penguin {
  Species: string;
  Island: string;
  'Beak Length (mm)': number | null;
  'Beak Depth (mm)': number | null;
  'Flipper Length (mm)': number | null;
  'Body Mass (g)': number | null;
  Sex: string | null;
}

// The real Palmer penguins (vega-datasets); one Sex is "." in the raw data.
const rows = tableFromJson<Penguin>(penguinsPath)
  .rows()
  .map((r) => (r.Sex === '.' ? { ...r, Sex: null } : r));
const penguins = tableFromRows(rows);

const column = (report: DriftReport, name: string) => report.columns.find((c) => c.column === name)!;

function thrown(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

describe('detectDrift', () => {
  it('judges a column holding extreme finite values (1e308, -1e308, values a unit apart at 1e16) without failing', () => {
    const reference = tableFromRows(
      Array.from({ length: 50 }, (_, i) => ({ x: 30 + (i % 10), y: 1e16 + (i % 2) })),
    );
    for (const outlier of [1e308, -1e308, Number.MAX_VALUE]) {
      const current = tableFromRows(
        Array.from({ length: 50 }, (_, i) => ({ x: i === 0 ? outlier : 30 + (i % 10), y: 1e16 + (i % 2) })),
      );
      const report = detectDrift(reference, current);
      const x = column(report, 'x');
      expect(x.judged).toBe(true);
      expect(x.histogram!.labels.length).toBeGreaterThan(1);
      expect(x.histogram!.current.reduce((a: number, b: number) => a + b, 0)).toBe(50);
      expect(column(report, 'y').judged).toBe(true);
    }
  });

  it('counts a column whose missing values rose beyond chance as drifted, however few values are left', () => {
    // A client stopped sending the body mass for four rows in five: the values left look as before.
    const sparse = tableFromRows(rows.map((r, i) => (i % 5 === 0 ? r : { ...r, 'Body Mass (g)': null })));
    const report = detectDrift(penguins, sparse);
    const mass = column(report, 'Body Mass (g)');
    expect(mass.drifted).toBe(true);
    expect(mass.judged).toBe(true);
    expect(mass.reasons.join('; ')).toMatch(
      /missing values rose from 0\.58\d* % to 79\.9\d* % \(≥ 10 points, p .* < 0\.001\)/,
    );
    expect(report.thresholds.missingRate).toBe(0.1);
    // A smaller rise than the threshold, or one allowed by the option, is not drift.
    const few = tableFromRows(rows.map((r, i) => (i % 20 === 0 ? { ...r, 'Body Mass (g)': null } : r)));
    expect(column(detectDrift(penguins, few), 'Body Mass (g)').reasons.join()).not.toMatch(/missing/);
    expect(
      column(detectDrift(penguins, sparse, { missingRateThreshold: 0.9 }), 'Body Mass (g)').reasons.join(),
    ).not.toMatch(/missing/);
    // The Evidently preset keeps Evidently's rules: no missing-value rule.
    expect(detectDrift(penguins, sparse, { preset: 'evidently' }).thresholds.missingRate).toBeUndefined();
    expect(thrown(() => detectDrift(penguins, sparse, { missingRateThreshold: 0 })).message).toMatch(
      /missingRateThreshold.*expected a number in \(0, 1\]/,
    );
  });

  it('finds no drift between a table and itself', () => {
    const report = detectDrift(penguins, penguins);
    expect(report.drifted).toBe(false);
    expect(report.driftedColumns).toEqual([]);
    expect(report.columns.map((c) => c.column)).toEqual(penguins.columnNames);
    for (const c of report.columns) {
      expect(c.judged).toBe(true);
      expect(c.psi).toBeCloseTo(0, 12);
      expect(c.pValue).toBeCloseTo(1, 6);
      expect(c.missingRateChange).toBe(0);
    }
    expect(report.summary).toMatch(/^No drift in 7 columns/);
  });

  it('raises no alarm on random halves of the same data (PSI noise at small samples does not count)', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const shuffled = shuffle(rows, seed);
      const report = detectDrift(tableFromRows(shuffled.slice(0, 172)), tableFromRows(shuffled.slice(172)));
      expect(report.driftedColumns, `seed ${seed}`).toEqual([]);
    }
    // Seed 5 puts the beak depth PSI over 0.2 by chance alone; the report says so.
    const shuffled = shuffle(rows, 5);
    const depth = column(
      detectDrift(tableFromRows(shuffled.slice(0, 172)), tableFromRows(shuffled.slice(172))),
      'Beak Depth (mm)',
    );
    expect(depth.psi).toBeGreaterThanOrEqual(0.2);
    expect(depth.psi).toBeLessThan(depth.psiNoise!);
    expect(depth.note).toMatch(/sampling noise/);
  });

  it('flags the columns that shift when only the birds of one island arrive', () => {
    const dream = tableFromRows(rows.filter((r) => r.Island === 'Dream'));
    const report = detectDrift(penguins, dream);
    expect(report.drifted).toBe(true);
    // Dream has no Gentoo (the big penguins): species, island and body size move; the sexes stay balanced.
    expect(report.driftedColumns).toEqual([
      'Species',
      'Island',
      'Beak Depth (mm)',
      'Flipper Length (mm)',
      'Body Mass (g)',
    ]);
    expect(column(report, 'Sex').drifted).toBe(false);
    const mass = column(report, 'Body Mass (g)');
    expect(mass.test).toBe('ks');
    expect(mass.current!.mean!).toBeLessThan(mass.reference.mean!);
    expect(mass.reasons.join(' ')).toMatch(/PSI .* ≥ 0\.2/);
    expect(column(report, 'Island').bins!.labels).toEqual(['Biscoe', 'Dream', 'Torgersen']);
    expect(column(report, 'Island').bins!.current).toEqual([0, 124, 0]);
    expect(report.summary).toBe(
      'Drift in 5 of 7 columns: Species, Island, Beak Depth (mm), Flipper Length (mm), Body Mass (g) (reference 344 rows, current 124 rows)',
    );
  });

  it('flags only the column that moved', () => {
    const heavier = tableFromRows(
      rows.map((r) => ({
        ...r,
        'Body Mass (g)': r['Body Mass (g)'] === null ? null : r['Body Mass (g)'] + 600,
      })),
    );
    const report = detectDrift(penguins, heavier);
    expect(report.driftedColumns).toEqual(['Body Mass (g)']);
    const mass = column(report, 'Body Mass (g)');
    expect(mass.current!.mean! - mass.reference.mean!).toBeCloseTo(600, 6);
  });

  it('computes categorical PSI and the χ² p-value by hand, with an unseen category as its own bin', () => {
    const reference = tableFromRows([...Array(50).fill({ c: 'a' }), ...Array(50).fill({ c: 'b' })]);
    const current = tableFromRows([...Array(75).fill({ c: 'a' }), ...Array(25).fill({ c: 'b' })]);
    const c = column(detectDrift(reference, current), 'c');
    // (0.75 − 0.5)·ln 1.5 + (0.25 − 0.5)·ln 0.5
    expect(c.psi).toBeCloseTo(0.25 * Math.log(1.5) + 0.25 * Math.log(2), 12);
    // 2 × 2 table [[50, 50], [75, 25]]: expected 62.5 and 37.5 per row; χ² = 13.333…, df 1, p = 2.61e-4 (tables).
    expect(c.statistic).toBeCloseTo(40 / 3, 10);
    expect(c.pValue).toBeGreaterThan(2.5e-4);
    expect(c.pValue).toBeLessThan(2.7e-4);
    expect(c.drifted).toBe(true);

    const withNew = tableFromRows([
      ...Array(50).fill({ c: 'a' }),
      ...Array(40).fill({ c: 'b' }),
      ...Array(10).fill({ c: 'z' }),
    ]);
    const unseen = column(detectDrift(reference, withNew), 'c');
    expect(unseen.bins).toEqual({ labels: ['a', 'b', 'z'], reference: [50, 50, 0], current: [50, 40, 10] });
    expect(unseen.drifted).toBe(true);
  });

  it('counts numbers beyond the reference range in the open outer bins', () => {
    const reference = tableFromRows(Array.from({ length: 100 }, (_, i) => ({ x: i })));
    const current = tableFromRows(Array.from({ length: 100 }, (_, i) => ({ x: 1000 + i })));
    const x = column(detectDrift(reference, current), 'x');
    expect(x.bins!.labels.at(-1)).toMatch(/^≥ /);
    expect(x.bins!.current.at(-1)).toBe(100);
    expect(x.bins!.reference.reduce((s, v) => s + v, 0)).toBe(100);
    expect(x.drifted).toBe(true);
    expect(x.statistic).toBe(1);
  });

  it('honours psiThreshold, pValueThreshold and minRows', () => {
    const dream = tableFromRows(rows.filter((r) => r.Island === 'Dream'));
    const lenient: DriftOptions = { psiThreshold: 100, pValueThreshold: 1e-300 };
    expect(detectDrift(penguins, dream, lenient).drifted).toBe(false);

    // At and just above a column's own PSI (its KS p-value, 2e-8, kept above pValueThreshold).
    const psi = column(detectDrift(penguins, dream), 'Body Mass (g)').psi!;
    const at = (psiThreshold: number) =>
      column(detectDrift(penguins, dream, { psiThreshold, pValueThreshold: 1e-12 }), 'Body Mass (g)');
    expect(at(psi).drifted).toBe(true);
    expect(at(psi * 1.001).drifted).toBe(false);

    // p-value alone: beak length moves a little (p ≈ 0.4 here), so a threshold above it flags it.
    const length = column(detectDrift(penguins, dream, { psiThreshold: 100 }), 'Beak Length (mm)');
    expect(length.drifted).toBe(false);
    const strict = column(
      detectDrift(penguins, dream, {
        psiThreshold: 100,
        pValueThreshold: Math.min(0.99, length.pValue! * 1.01),
      }),
      'Beak Length (mm)',
    );
    expect(strict.drifted).toBe(true);
    expect(strict.reasons).toEqual([expect.stringMatching(/Kolmogorov–Smirnov p-value/)]);

    // 20 Torgersen birds: not judged with the default minRows 30, judged with 10.
    const few = tableFromRows(rows.filter((r) => r.Island === 'Torgersen').slice(0, 20));
    const unjudged = detectDrift(penguins, few);
    expect(unjudged.drifted).toBe(false);
    expect(column(unjudged, 'Island').judged).toBe(false);
    expect(column(unjudged, 'Island').note).toMatch(
      /20 present values in the current data, fewer than minRows \(30\)/,
    );
    expect(unjudged.summary).toMatch(/7 not judged/);
    expect(detectDrift(penguins, few, { minRows: 10 }).driftedColumns).toContain('Island');
  });

  it('selects columns with columns and ignore', () => {
    const dream = tableFromRows(rows.filter((r) => r.Island === 'Dream'));
    const report = detectDrift(penguins, dream, {
      columns: ['Island', 'Sex', 'Species'],
      ignore: ['Species'],
    });
    expect(report.columns.map((c) => c.column)).toEqual(['Island', 'Sex']);
    expect(report.driftedColumns).toEqual(['Island']);
  });

  it('treats a column missing from the current data, a changed type and an emptied column as drift', () => {
    const withoutMass = tableFromRows(rows.map(({ 'Body Mass (g)': _, ...rest }) => ({ ...rest, tag: 'x' })));
    const report = detectDrift(penguins, withoutMass);
    expect(report.drifted).toBe(true);
    expect(report.driftedColumns).toEqual(['Body Mass (g)']);
    expect(column(report, 'Body Mass (g)')).toMatchObject({
      current: null,
      reasons: ['the column is missing from the current data'],
    });
    expect(report.extraColumns).toEqual(['tag']);

    const asText = tableFromRows(rows.map((r) => ({ ...r, Sex: r.Sex === null ? null : r.Sex === 'MALE' })));
    expect(column(detectDrift(penguins, asText), 'Sex').reasons).toEqual([
      "the column's type changed from string to boolean",
    ]);

    const emptied = tableFromRows(
      rows.map((r) => ({ ...r, 'Flipper Length (mm)': null })),
      {
        schema: { 'Flipper Length (mm)': 'number' },
      },
    );
    const flipper = column(detectDrift(penguins, emptied), 'Flipper Length (mm)');
    expect(flipper.drifted).toBe(true);
    expect(flipper.missingRateChange).toBeCloseTo(1 - 2 / 344, 12);
    expect(flipper.reasons[0]).toMatch(/every value is missing/);
  });

  it('refuses invalid options, naming each one', () => {
    const cases: Array<[DriftOptions, RegExp]> = [
      [{ psiThreshold: -1 }, /option "psiThreshold": expected a positive number, got -1/],
      [{ pValueThreshold: 1.5 }, /option "pValueThreshold": expected a number between 0 and 1/],
      [{ minRows: 2.5 }, /option "minRows": expected a whole number >= 1/],
      [{ bins: 1 }, /option "bins": expected a whole number from 2 to 100/],
      [
        { columns: ['Island', 'Wingspan'] },
        /option "columns\[1\]": the reference table has no column "Wingspan"/,
      ],
      [{ ignore: 'Sex' as never }, /option "ignore": expected a list of column names/],
      [{ psiTreshold: 0.1 } as never, /option "psiTreshold": unknown option/],
    ];
    for (const [options, message] of cases) {
      const error = thrown(() => detectDrift(penguins, penguins, options));
      expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect(error.message).toMatch(message);
    }
  });
});

describe('driftStep', () => {
  const drift = driftStep();
  const definition = drift.definition as any;
  const validate = (config: unknown) => definition.config['~standard'].validate(config);
  const run = (config: unknown, reference: Table<any>, current: Table<any>) => {
    const lines: string[] = [];
    const log = Object.fromEntries(
      ['debug', 'info', 'warn', 'error'].map((level) => [level, (m: string) => lines.push(`${level}: ${m}`)]),
    );
    const parsed = validate(config);
    if (parsed.issues) throw new Error(JSON.stringify(parsed.issues));
    return { out: definition.run({ config: parsed.value, inputs: { reference, current }, log }), lines };
  };

  it('declares its inputs, outputs and name', () => {
    expect(definition.name).toBe('drift');
    expect(driftStep({ name: 'monitor' }).definition.name).toBe('monitor');
    expect(Object.keys(definition.inputs)).toEqual(['reference', 'current']);
    expect(definition.inputs.reference.name).toBe('table');
    expect(Object.fromEntries(Object.entries(definition.outputs).map(([k, v]: any) => [k, v.name]))).toEqual({
      drift: 'json',
      report: 'report',
    });
  });

  it('fills defaults and refuses bad config with the key path', () => {
    expect(validate({}).value).toEqual({ psiThreshold: 0.2, pValueThreshold: 0.001, minRows: 30, bins: 10 });
    // The evidently preset's own defaults; options left out stay out.
    expect(validate({ preset: 'evidently' }).value).toEqual({
      preset: 'evidently',
      psiThreshold: 0.2,
      pValueThreshold: 0.05,
      minRows: 1,
      bins: 10,
    });
    expect(validate({ preset: 'evidently', test: 'wilcoxon' }).issues).toEqual([
      { path: ['test'], message: expect.stringMatching(/^expected one of auto, ks/) },
    ]);
    expect(validate({ psiThreshold: 'high', ignore: ['a', 3] }).issues).toEqual([
      { path: ['psiThreshold'], message: 'expected a positive number, got "high"' },
      { path: ['ignore', 1], message: 'expected a column name' },
    ]);
    expect(validate([]).issues[0].message).toMatch(/expected a mapping/);
  });

  it('writes the report and an HTML page with a chart per column, and never fails for drift', () => {
    const dream = tableFromRows(rows.filter((r) => r.Island === 'Dream'));
    const { out, lines } = run({ ignore: ['Species'] }, penguins, dream);
    expect(out.drift.drifted).toBe(true);
    expect(out.drift.columns).toHaveLength(6);
    expect(JSON.parse(JSON.stringify(out.drift))).toEqual(out.drift);
    expect(lines.at(-1)).toMatch(/^warn: Drift in 4 of 6 columns/);
    expect(out.report.format).toBe('html');
    const html: string = out.report.content;
    checkMarkup(html, 'html');
    expect(html.match(/<svg /g)).toHaveLength(6);
    expect(html).toContain('<h2>Flipper Length (mm)</h2>');
    expect(html).toContain('<strong>Drifted</strong>: PSI');
    expect(html).not.toContain('Species');

    const same = run({}, penguins, penguins);
    expect(same.out.drift.drifted).toBe(false);
    expect(same.lines.at(-1)).toMatch(/^info: No drift in 7 columns/);
  });
});

describe('detectDrift: columns that cannot drift meaningfully', () => {
  const days = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => new Date(Date.UTC(2026, 0, 1 + from + i)));
  const build = (from: number) =>
    tableFromRows(
      days(from, 60).map((day, i) => ({
        day,
        dayText: day.toISOString().slice(0, 10),
        orderKey: `order-${from + i}`,
        user_id: 1000 + from + i,
        amount: (i % 10) + 1,
      })),
    );

  it('skips dates, date strings and identifiers with the reason, and does not count them', () => {
    const report = detectDrift(build(0), build(60));
    expect(report.skippedColumns).toEqual(['day', 'dayText', 'orderKey', 'user_id']);
    expect(report.driftedColumns).toEqual([]);
    expect(report.drifted).toBe(false);
    expect(report.summary).toMatch(/No drift in 1 columns .*; skipped day, dayText, orderKey, user_id$/);
    const day = column(report, 'day');
    expect(day).toMatchObject({ drifted: false, judged: false, psi: null });
    expect(day.skipped).toMatch(/a date or time moves forward/);
    expect(column(report, 'dayText').skipped).toMatch(/date strings/);
    expect(column(report, 'orderKey').skipped).toMatch(/every reference value is distinct/);
    expect(column(report, 'user_id').skipped).toMatch(/id column/);
    expect(column(report, 'amount').skipped).toBeUndefined();
    const html = driftReportHtml(report);
    checkMarkup(html, 'html');
    expect(html).toContain('Skipped (cannot drift meaningfully): <code>day</code>');
  });

  it('compares a skipped kind of column when it is named in `columns`', () => {
    const report = detectDrift(build(0), build(60), { columns: ['day', 'amount'] });
    expect(report.skippedColumns).toEqual([]);
    expect(report.driftedColumns).toEqual(['day']);
  });
});

describe('detectDrift: the evidently preset', () => {
  const range = (n: number, f: (k: number) => unknown) => Array.from({ length: n }, (_, k) => f(k));
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  const abc = ['a', 'b', 'c'];
  const abcd = ['a', 'b', 'c', 'd'];
  const reference = (n: number) =>
    tableFromRows(
      range(n, (k) => ({
        x: Math.sqrt(k),
        grade: k % 4,
        answer: k % 3 === 0 ? 'yes' : 'no',
        city: abc[k % 3],
        level: k % 5,
      })) as Array<Record<string, number | string>>,
    );
  const current = (n: number) =>
    tableFromRows(
      range(n, (k) => ({
        x: 0.5 + Math.sqrt(1.1 * k),
        grade: k % 3,
        answer: k % 2 === 0 ? 'yes' : 'no',
        city: abcd[k % 4],
        level: k % 4,
      })) as Array<Record<string, number | string>>,
    );

  // References: test/reference/evidently_reference.py (Evidently's stattests formulas with scipy/numpy).
  it('picks Evidently’s test per column for ≤ 1000 reference values and gives its numbers', () => {
    const report = detectDrift(reference(200), current(150), { preset: 'evidently' });
    expect(report.columns.map((c) => [c.column, c.test])).toEqual([
      ['x', 'ks'],
      ['grade', 'chi-square'],
      ['answer', 'z'],
      ['city', 'chi-square'],
      ['level', 'chi-square'],
    ]);
    const x = column(report, 'x');
    expect(x.statistic).toBeCloseTo(0.115, 12);
    expect(rel(x.pValue!, 0.19378743667612494)).toBeLessThan(1e-9);
    expect(x.drifted).toBe(false);
    const grade = column(report, 'grade');
    expect(rel(grade.statistic!, 50)).toBeLessThan(1e-9);
    expect(rel(grade.pValue!, 7.989179244951495e-11)).toBeLessThan(1e-9);
    const answer = column(report, 'answer');
    expect(rel(answer.statistic!, -3.1110196488752644)).toBeLessThan(1e-9);
    expect(rel(answer.pValue!, 0.0018644253297912528)).toBeLessThan(1e-9);
    // A city the reference never had: infinitely unlikely under the reference's shares (scipy: inf, p = 0).
    expect(column(report, 'city')).toMatchObject({
      statistic: Number.POSITIVE_INFINITY,
      pValue: 0,
      drifted: true,
    });
    expect(report.thresholds).toMatchObject({ pValue: 0.05, distance: 0.1, driftShare: 0.5 });
    // grade, answer, city and level drift: 4 of 5 ≥ half.
    expect(report.driftedColumns).toEqual(['grade', 'answer', 'city', 'level']);
    expect(report.driftShare).toBe(0.8);
    expect(report.drifted).toBe(true);
  });

  it('uses the normed Wasserstein and Jensen–Shannon distances above 1000 reference values', () => {
    const report = detectDrift(reference(1500), current(1200), { preset: 'evidently' });
    expect(report.columns.map((c) => [c.column, c.test])).toEqual([
      ['x', 'wasserstein'],
      ['grade', 'jensenshannon'],
      ['answer', 'jensenshannon'],
      ['city', 'jensenshannon'],
      ['level', 'jensenshannon'],
    ]);
    expect(rel(column(report, 'x').statistic!, 0.12198681208379455)).toBeLessThan(1e-9);
    expect(column(report, 'x').pValue).toBeNull();
    expect(column(report, 'x').reasons).toEqual([
      expect.stringMatching(/^Wasserstein distance \(normed\) 0\.12\d* ≥ 0\.1$/),
    ]);
    expect(rel(column(report, 'level').statistic!, 0.27364532084863846)).toBeLessThan(1e-9);
    expect(rel(column(report, 'city').statistic!, 0.30919668327301425)).toBeLessThan(1e-9);
    // Forced Jensen–Shannon on a number with > 20 distinct values: Sturges bins over both samples.
    const forced = detectDrift(reference(1500), current(1200), {
      preset: 'evidently',
      test: 'jensenshannon',
    });
    expect(rel(column(forced, 'x').statistic!, 0.10501189968688363)).toBeLessThan(1e-9);
  });

  it('calls the data set drifted only when at least driftShare of the columns drift', () => {
    const options = { preset: 'evidently' as const, columns: ['x', 'grade', 'answer'] };
    const small = detectDrift(reference(200), current(150), { ...options, columns: ['x', 'grade', 'level'] });
    // grade and level drift, x does not: 2 of 3.
    expect(small.driftedColumns).toEqual(['grade', 'level']);
    expect(small.drifted).toBe(true);
    const strict = detectDrift(reference(200), current(150), {
      ...options,
      columns: ['x', 'grade', 'level'],
      driftShare: 0.7,
    });
    expect(strict.driftedColumns).toEqual(['grade', 'level']);
    expect(strict.drifted).toBe(false);
    expect(strict.summary).toMatch(/data set not drifted \(66\.7% of columns, threshold 70%\)/);
  });

  it('lets the cairn preset use a distance test too, and refuses bad preset options', () => {
    const report = detectDrift(reference(1500), current(1200), { test: 'wasserstein', psiThreshold: 100 });
    expect(column(report, 'x').test).toBe('wasserstein');
    expect(column(report, 'x').drifted).toBe(true);
    // Not a number column: keeps the preset's χ².
    expect(column(report, 'city').test).toBe('chi-square');
    for (const [options, message] of [
      [{ preset: 'nannyml' }, /option "preset": expected "cairn" or "evidently"/],
      [{ test: 'anderson' }, /option "test": expected one of auto, ks/],
      [{ driftShare: 0 }, /option "driftShare": expected a number in \(0, 1\]/],
      [{ distanceThreshold: -1 }, /option "distanceThreshold": expected a positive number/],
    ] as Array<[DriftOptions, RegExp]>) {
      const error = thrown(() => detectDrift(penguins, penguins, options));
      expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect(error.message).toMatch(message);
    }
  });
});
