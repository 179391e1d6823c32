import { describe, expect, it } from 'vitest';
import { penguinsPath } from '../test/fixtures';
import { tableFromJson } from './io';
import { fitPreprocessor, LabelEncoder, labelEncoder, Preprocessor } from './preprocess';
import { seededRandom, shuffle } from './random';
import { parseDuration, randomSplit, stratifiedSplit, timeSplit, timeWindow } from './split';

const penguins = tableFromJson<{ Species: string; Island: string; 'Body Mass (g)': number | null }>(
  penguinsPath,
);

function counts(rows: ReadonlyArray<{ Species: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.Species] = (out[r.Species] ?? 0) + 1;
  return out;
}

describe('seededRandom', () => {
  it('is mulberry32: known first values for seed 42, all in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const first = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(first);
    // Reference values of mulberry32 for seed 42 (the widely published JS implementation).
    expect(first[0]).toBeCloseTo(0.6011037519201636, 15);
    expect(first[1]).toBeCloseTo(0.44829055899754167, 15);
    const r = seededRandom(7);
    for (let i = 0; i < 1000; i++) {
      const v = r();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });

  it('shuffles deterministically without losing items', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    expect(shuffle(items, 1)).toEqual(shuffle(items, 1));
    expect(shuffle(items, 1)).not.toEqual(shuffle(items, 2));
    expect([...shuffle(items, 1)].sort((a, b) => a - b)).toEqual(items);
  });
});

describe('stratifiedSplit', () => {
  it('keeps class proportions: round(n × fraction) of each class goes to test', () => {
    const { train, test } = stratifiedSplit(penguins, { by: 'Species', testFraction: 0.2, seed: 42 });
    // Adelie 152 → 30, Gentoo 124 → 25, Chinstrap 68 → 14 (rounded shares of 20 %).
    expect(counts(test)).toEqual({ Adelie: 30, Gentoo: 25, Chinstrap: 14 });
    expect(counts(train)).toEqual({ Adelie: 122, Gentoo: 99, Chinstrap: 54 });
    expect(train.length + test.length).toBe(344);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const rows = penguins.rows().map((r, id) => ({ ...r, id }));
    const a = stratifiedSplit(rows, { by: 'Species', testFraction: 0.2, seed: 42 });
    const b = stratifiedSplit(rows, { by: 'Species', testFraction: 0.2, seed: 42 });
    const c = stratifiedSplit(rows, { by: 'Species', testFraction: 0.2, seed: 43 });
    const ids = (part: Array<{ id: number }>) => part.map((r) => r.id);
    expect(ids(a.test)).toEqual(ids(b.test));
    expect(ids(a.test)).not.toEqual(ids(c.test));
    // Every row lands in exactly one part, and parts keep the original order.
    expect([...ids(a.train), ...ids(a.test)].sort((x, y) => x - y)).toEqual(rows.map((r) => r.id));
    expect(ids(a.test)).toEqual([...ids(a.test)].sort((x, y) => x - y));
  });

  it('puts every class with two rows or more in both parts', () => {
    const rows = [
      ...Array.from({ length: 20 }, () => ({ y: 'big' })),
      { y: 'pair' },
      { y: 'pair' },
      { y: 'single' },
    ];
    const { train, test } = stratifiedSplit(rows, { by: 'y', testFraction: 0.1, seed: 3 });
    expect(test.filter((r) => r.y === 'pair')).toHaveLength(1);
    expect(train.filter((r) => r.y === 'pair')).toHaveLength(1);
    expect(train.filter((r) => r.y === 'single')).toHaveLength(1);
    expect(test.filter((r) => r.y === 'big')).toHaveLength(2);
  });

  it('refuses bad options, naming them', () => {
    expect(() => stratifiedSplit([{ y: 'a' }], { by: 'y', testFraction: 1 })).toThrow(
      /"testFraction" must be a number strictly between 0 and 1/,
    );
    expect(() => stratifiedSplit([{ y: 'a' }], { by: 'z' as 'y' })).toThrow(/no row has a column "z"/);
    expect(() => stratifiedSplit([{ y: 'a' }], { by: 'y', seed: 1.5 })).toThrow(/"seed" must be an integer/);
  });

  it('randomSplit sends round(n × fraction) rows to test, deterministically', () => {
    const rows = Array.from({ length: 101 }, (_, i) => i);
    const a = randomSplit(rows, { testFraction: 0.3, seed: 5 });
    expect(a.test).toHaveLength(30);
    expect(a).toEqual(randomSplit(rows, { testFraction: 0.3, seed: 5 }));
  });
});

describe('fitPreprocessor', () => {
  const train = [
    { x: 1, y: 10, island: 'Biscoe' },
    { x: 3, y: null, island: 'Dream' },
    { x: 5, y: 20, island: 'Biscoe' },
    { x: null, y: 60, island: null },
  ];

  it('learns mean, population std and vocabularies from training rows', () => {
    const prep = fitPreprocessor(train, { numeric: ['x', 'y'], categorical: ['island'] });
    // x: 1, 3, 5 → mean 3, std sqrt(8/3); y: 10, 20, 60 → mean 30, std sqrt(1400/3).
    expect(prep.state.numeric[0]).toMatchObject({ name: 'x', mean: 3, fill: 3 });
    expect(prep.state.numeric[0]!.std).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(prep.state.numeric[1]!.std).toBeCloseTo(Math.sqrt(1400 / 3), 12);
    expect(prep.state.categorical).toEqual([{ name: 'island', categories: ['Biscoe', 'Dream'] }]);
    expect(prep.featureNames).toEqual(['x', 'y', 'island=Biscoe', 'island=Dream']);
    const [first, , , last] = prep.transform(train);
    expect(first![0]).toBeCloseTo(-2 / Math.sqrt(8 / 3), 12);
    expect(first!.slice(2)).toEqual([1, 0]);
    // Missing x → the mean → 0 after scaling; missing island → all zeros.
    expect(last![0]).toBe(0);
    expect(last!.slice(2)).toEqual([0, 0]);
  });

  it('is fitted on training rows only: transforming other rows changes nothing learned', () => {
    const prep = fitPreprocessor(train, { numeric: ['x'], categorical: ['island'], scale: 'none' });
    const before = prep.toJSON();
    const test = [{ x: 1000, island: 'Torgersen' }];
    expect(prep.transform(test)).toEqual([[1000, 0, 0]]);
    expect(prep.toJSON()).toEqual(before);
    // Fitting on train + test would have moved the mean: the split matters.
    expect(fitPreprocessor([...train, ...test], { numeric: ['x'] }).state.numeric[0]!.mean).not.toBe(3);
  });

  it('imputes the median when asked', () => {
    const prep = fitPreprocessor(train, { numeric: ['y'], impute: 'median', scale: 'none' });
    expect(prep.transformRow({ y: null })).toEqual([20]);
  });

  it('survives JSON and gives the same vectors after fromJSON', () => {
    const prep = fitPreprocessor(train, { numeric: ['x', 'y'], categorical: ['island'] });
    const restored = Preprocessor.fromJSON(JSON.parse(JSON.stringify(prep)));
    expect(restored.transform(train)).toEqual(prep.transform(train));
    expect(() => Preprocessor.fromJSON({ version: 2 })).toThrow(/unsupported version/);
    expect(() => Preprocessor.fromJSON({ ...prep.toJSON(), numeric: [{ name: 'x' }] })).toThrow(
      /finite mean, std and fill/,
    );
  });

  it('refuses a non-number in a numeric column and unknown columns', () => {
    const prep = fitPreprocessor(train, { numeric: ['x'] });
    expect(() => prep.transform([{ x: 'seven' }])).toThrow(/row 0, column "x": "seven" is not a number/);
    expect(() => fitPreprocessor(train, { numeric: ['nope'] })).toThrow(/no row has a column "nope"/);
  });

  it('keeps a constant column at zero instead of dividing by zero', () => {
    const prep = fitPreprocessor([{ c: 4 }, { c: 4 }], { numeric: ['c'] });
    expect(prep.transform([{ c: 4 }, { c: 6 }])).toEqual([[0], [2]]);
  });
});

describe('labelEncoder', () => {
  it('maps sorted labels to indices and back, refusing unknown labels', () => {
    const enc = labelEncoder(['Gentoo', 'Adelie', 'Gentoo', null, 'Chinstrap']);
    expect(enc.labels).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    expect(enc.encodeAll(['Gentoo', 'Adelie'])).toEqual([2, 0]);
    expect(enc.decodeAll([1, 2])).toEqual(['Chinstrap', 'Gentoo']);
    expect(() => enc.encode('Emperor')).toThrow(/unknown label "Emperor"/);
    expect(() => enc.decode(3)).toThrow(/outside 0…2/);
    expect(LabelEncoder.fromJSON(JSON.parse(JSON.stringify(enc))).labels).toEqual(enc.labels);
  });
});

describe('timeSplit and timeWindow', () => {
  const rows = [
    { day: '2024-01-05', v: 5 },
    { day: '2024-01-01', v: 1 },
    { day: '2024-01-03', v: 3 },
    { day: '2024-01-04', v: 4 },
    { day: '2024-01-02', v: 2 },
  ];

  it('sends the latest round(n × fraction) rows to test, keeping the original order in each part', () => {
    const { train, test } = timeSplit(rows, { by: 'day', testFraction: 0.4 });
    expect(test.map((r) => r.v)).toEqual([5, 4]);
    expect(train.map((r) => r.v)).toEqual([1, 3, 2]);
    // Dates and epoch numbers order the same way as ISO strings.
    const dated = rows.map((r) => ({ ...r, day: new Date(`${r.day}T00:00:00Z`) }));
    expect(timeSplit(dated, { by: 'day', testFraction: 0.4 }).test.map((r) => r.v)).toEqual([5, 4]);
  });

  it('refuses a row without a time, naming it', () => {
    expect(() => timeSplit([...rows, { day: 'soon', v: 6 }], { by: 'day' })).toThrow(/row 5, column "day"/);
    expect(() => timeSplit(rows, { by: 'day', testFraction: 1 })).toThrow(/testFraction/);
  });

  it('keeps the rows within the window before the newest row', () => {
    expect(timeWindow(rows, { column: 'day', last: '2d' }).map((r) => r.v)).toEqual([5, 4]);
    expect(timeWindow(rows, { column: 'day', last: '1w' })).toHaveLength(5);
    expect(timeWindow(rows, { column: 'day', last: '48h' })).toHaveLength(2);
    expect(parseDuration('730d')).toBe(730 * 86_400_000);
    for (const bad of ['730', '0d', '3y', '']) expect(() => parseDuration(bad)).toThrow(/duration/);
  });
});
