import { CairnError, canonicalJson } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { penguinsPath } from '../test/fixtures';
import { checkMarkup } from '../test/xml';
import { tableFromJson } from './io';
import { columnStats } from './stats';
import { tableFromRows } from './table';
import { assertValid, expectSchema, ValidationReport, validateTable } from './validate';

interface Penguin {
  Species: string;
  Island: string;
  'Beak Length (mm)': number | null;
  'Beak Depth (mm)': number | null;
  'Flipper Length (mm)': number | null;
  'Body Mass (g)': number | null;
  Sex: string | null;
}

const raw = tableFromJson<Penguin>(penguinsPath);
// The raw data has one penguin whose Sex is "."; the first test shows validation finding it.
const penguins = tableFromRows(raw.rows().map((r) => (r.Sex === '.' ? { ...r, Sex: null } : r)));

const expectation = expectSchema({
  columns: {
    Species: { type: 'string', allowed: ['Adelie', 'Chinstrap', 'Gentoo'], maxMissing: 0 },
    Island: { type: 'string', allowed: ['Biscoe', 'Dream', 'Torgersen'] },
    'Beak Length (mm)': { type: 'number', min: 25, max: 70, maxMissing: 0.05 },
    'Body Mass (g)': { type: 'number', min: 2000, max: 7000, maxMissing: 0.05 },
    Sex: { type: 'string', allowed: ['MALE', 'FEMALE'], maxMissing: 0.05 },
  },
  minRows: 300,
});

function thrown(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

describe('validateTable', () => {
  it('finds the one bad category in the raw penguins data', () => {
    const report = validateTable(raw, expectation);
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([
      {
        column: 'Sex',
        rule: 'allowed',
        count: 1,
        examples: ['.'],
        message: 'column "Sex" has 1 values not in the allowed set, e.g. "."',
      },
    ]);
  });

  it('passes the cleaned penguins data and reports statistics of every column', () => {
    const report = validateTable(penguins, expectation);
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rows).toBe(344);
    const beak = report.stats.find((s) => s.name === 'Beak Length (mm)')!;
    expect(beak.missing).toBe(2);
    expect(beak.missingFraction).toBeCloseTo(2 / 344, 12);
    expect(beak.numeric!.min).toBe(32.1);
    expect(beak.numeric!.max).toBe(59.6);
    const species = report.stats.find((s) => s.name === 'Species')!;
    expect(species.categories).toEqual({ Adelie: 152, Gentoo: 124, Chinstrap: 68 });
    expect(assertValid(report)).toBe(report);
  });

  it('catches a renamed column and names it', () => {
    const renamed = tableFromRows(
      penguins.rows().map(({ 'Beak Length (mm)': beak, ...rest }) => ({ ...rest, bill_length: beak })),
    );
    const report = validateTable(renamed, expectation);
    expect(report.ok).toBe(false);
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]).toMatchObject({ column: 'Beak Length (mm)', rule: 'missing-column' });
    expect(report.violations[0]!.message).toContain('"bill_length"');
    const strict = validateTable(renamed, { ...expectation, allowExtraColumns: false });
    expect(strict.violations.map((v) => [v.rule, v.column])).toContainEqual(['extra-column', 'bill_length']);
  });

  it('catches out-of-range values with their count and examples, naming the column', () => {
    const rows = penguins.rows();
    rows[3]!['Body Mass (g)'] = 12_000;
    rows[10]!['Body Mass (g)'] = -5;
    rows[11]!['Body Mass (g)'] = 12_000;
    const report = validateTable(tableFromRows(rows), expectation);
    expect(report.violations).toEqual([
      {
        column: 'Body Mass (g)',
        rule: 'range',
        count: 3,
        examples: [12_000, -5],
        message: 'column "Body Mass (g)" has 3 values outside [2000, 7000], e.g. 12000, -5',
      },
    ]);
    const error = thrown(() => assertValid(report));
    expect(error.code).toBe('CAIRN_DATA_INVALID');
    expect(error.message).toContain('"Body Mass (g)"');
    expect(error.issues[0]).toMatchObject({ source: 'Body Mass (g)' });
  });

  it('reports unknown categories, missing budgets, wrong types and too few rows', () => {
    const t = tableFromRows([
      { Species: 'Adelie', Island: 'Atlantis', 'Beak Length (mm)': 'long', 'Body Mass (g)': null, Sex: null },
      { Species: null, Island: 'Dream', 'Beak Length (mm)': 'short', 'Body Mass (g)': 3000, Sex: 'MALE' },
    ]);
    const report = validateTable(t, expectation);
    const byRule = Object.fromEntries(report.violations.map((v) => [`${v.rule}:${v.column ?? ''}`, v]));
    expect(Object.keys(byRule).sort()).toEqual(
      [
        'allowed:Island',
        'max-missing:Body Mass (g)',
        'max-missing:Sex',
        'max-missing:Species',
        'min-rows:',
        'type:Beak Length (mm)',
      ].sort(),
    );
    expect(byRule['allowed:Island']).toMatchObject({ count: 1, examples: ['Atlantis'] });
    expect(byRule['type:Beak Length (mm)']!.message).toBe(
      'column "Beak Length (mm)" is string, expected number; non-numeric values such as "long", "short"',
    );
    expect(byRule['max-missing:Species']!.message).toMatch(
      /1 missing values \(50%\), more than the 0% allowed/,
    );
    expect(byRule['min-rows:']!.message).toBe('table has 2 rows, fewer than the 300 expected');
    const error = thrown(() => assertValid(report));
    for (const column of ['Island', 'Body Mass (g)', 'Sex', 'Species', 'Beak Length (mm)']) {
      expect(error.message).toContain(`"${column}"`);
    }
  });

  it('checks date ranges given as ISO strings', () => {
    const t = tableFromRows([{ day: new Date('2024-01-05') }, { day: new Date('2023-12-31') }]);
    const report = validateTable(t, { columns: { day: { type: 'date', min: '2024-01-01' } } });
    expect(report.violations[0]).toMatchObject({
      rule: 'range',
      count: 1,
      examples: ['2023-12-31T00:00:00.000Z'],
    });
  });

  it('round-trips through JSON (what a json() artifact stores) and renders Markdown and HTML', () => {
    const rows = penguins.rows();
    rows[0]!.Island = 'Atlantis <&>';
    const report = validateTable(tableFromRows(rows), expectation);
    const back = ValidationReport.fromJSON(JSON.parse(canonicalJson(report)));
    expect(back.toJSON()).toEqual(report.toJSON());
    const md = back.toMarkdown();
    expect(md).toMatch(/^# Data validation failed/);
    expect(md).toContain('| Beak Length (mm) | number | 2 (0.5814%) | 32.1 |');
    expect(md).toContain('- **allowed**: column "Island"');
    const html = back.toHtml();
    expect(checkMarkup(html, 'html')).toEqual(['html']);
    expect(html).toContain('Atlantis &lt;&amp;&gt;');
    expect(html).not.toContain('Atlantis <&>');
    expect(html).toContain('<td>Beak Length (mm)</td>');
  });
});

describe('expectSchema', () => {
  it('refuses mistakes in the expectation, naming the key', () => {
    const error = thrown(() =>
      expectSchema({
        columns: {
          a: { type: 'number', min: 5, max: 1 },
          b: { maxMissing: 2, typo: true } as any,
          c: { type: 'float' as any },
        },
        minRows: -1,
      }),
    );
    expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
    expect(error.message).toContain('columns.a.min: is above max');
    expect(error.message).toContain('columns.b.maxMissing: must be a fraction between 0 and 1');
    expect(error.message).toContain('columns.b.typo: unknown rule');
    expect(error.message).toContain('columns.c.type: must be one of');
    expect(error.message).toContain('minRows: must be a non-negative integer');
  });
});

describe('columnStats', () => {
  it('computes hand-checkable statistics', () => {
    const stats = columnStats(
      tableFromRows([
        { x: 1, c: 'b' },
        { x: 2, c: 'a' },
        { x: null, c: 'b' },
        { x: 5, c: null },
      ]),
    );
    // x: present 1, 2, 5 → mean 8/3; population variance ((5/3)² + (2/3)² + (7/3)²) / 3 = 78/27.
    expect(stats[0]).toMatchObject({
      name: 'x',
      type: 'number',
      count: 4,
      missing: 1,
      missingFraction: 0.25,
      distinct: 3,
    });
    expect(stats[0]!.numeric!.mean).toBeCloseTo(8 / 3, 12);
    expect(stats[0]!.numeric!.std).toBeCloseTo(Math.sqrt(78 / 27), 12);
    expect(stats[0]!.numeric).toMatchObject({ min: 1, max: 5, p25: 1.5, p50: 2, p75: 3.5 });
    expect(stats[1]).toMatchObject({ name: 'c', missing: 1, distinct: 2, categories: { b: 2, a: 1 } });
  });
});
