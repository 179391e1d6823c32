import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from './csv';
import { tableFromCsv, tableFromJson } from './io';

const texts = (text: string) => parseCsv(text).map((r) => r.map((f) => f.text));

describe('parseCsv', () => {
  it('splits plain records', () => {
    expect(texts('a,b\n1,2\n')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('keeps delimiters, line breaks and doubled quotes inside quoted fields', () => {
    expect(texts('a,b\n"x, y","line1\nline2"\n"say ""hi""",""\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'line1\nline2'],
      ['say "hi"', ''],
    ]);
  });

  it('accepts CRLF, lone CR and a missing final line break', () => {
    expect(texts('a,b\r\n1,2\r\n3,4')).toEqual([
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(texts('a\r1\r')).toEqual([['a'], ['1']]);
    expect(texts('"x\r\ny",z\r\n')).toEqual([['x\r\ny', 'z']]);
  });

  it('strips a byte-order mark', () => {
    expect(texts('\ufeffa,b\n1,2')[0]).toEqual(['a', 'b']);
  });

  it('tells a quoted empty field from an unquoted one', () => {
    expect(parseCsv('"",')[0]).toEqual([
      { text: '', quoted: true },
      { text: '', quoted: false },
    ]);
  });

  it('refuses malformed quoting with the line number', () => {
    expect(() => parseCsv('a,b\n1,"open\n2,3\n')).toThrow(/line 2: a quoted field is never closed/);
    expect(() => parseCsv('a,b\n1,"x"y\n')).toThrow(/line 2: text after a closing quote/);
    expect(() => parseCsv('a,b\n1,2\n3,x"y\n')).toThrow(/line 3: a quote inside an unquoted field/);
  });

  it('counts line breaks inside quoted fields when reporting lines', () => {
    expect(() => parseCsv('a\n"1\n2"\nx"\n')).toThrow(/line 4:/);
  });

  it('takes another delimiter and refuses a bad one', () => {
    expect(texts('a\tb\n1\t2')).toEqual([['a\tb'], ['1\t2']]);
    expect(parseCsv('a\tb\n1\t2', { delimiter: '\t' }).map((r) => r.map((f) => f.text))).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(() => parseCsv('a', { delimiter: '"' })).toThrow(/delimiter/);
  });
});

describe('tableFromCsv', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-csv-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('detects numbers, booleans and strings; empty fields are missing', () => {
    const t = tableFromCsv(
      'name,mass,ratio,male,zip\nA,3750,1e-3,true,02134\n"B, the second",,-.5,FALSE,10001\n',
    );
    expect(t.schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['name', 'string'],
      ['mass', 'number'],
      ['ratio', 'number'],
      ['male', 'boolean'],
      ['zip', 'string'],
    ]);
    expect(t.rows()).toEqual([
      { name: 'A', mass: 3750, ratio: 0.001, male: true, zip: '02134' },
      { name: 'B, the second', mass: null, ratio: -0.5, male: false, zip: '10001' },
    ]);
  });

  it('keeps a quoted "" as an empty string, and treats nullValues as missing', () => {
    const t = tableFromCsv('s,n\n"",NA\nx,1\n', { nullValues: ['NA'] });
    expect(t.rows()).toEqual([
      { s: '', n: null },
      { s: 'x', n: 1 },
    ]);
    expect(tableFromCsv('n\nNA\n1\n').schema.fields[0]!.type).toBe('string');
  });

  it('skips blank lines and handles CRLF files', () => {
    const t = tableFromCsv('a,b\r\n1,x\r\n\r\n2,y\r\n');
    expect(t.rows()).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
    ]);
  });

  it('parses dates and overrides detection through options.schema', () => {
    const t = tableFromCsv('day,code\n2024-03-01,007\n2024-03-02,8\n', {
      schema: { day: 'date', code: 'number' },
    });
    expect(t.rows()).toEqual([
      { day: new Date('2024-03-01'), code: 7 },
      { day: new Date('2024-03-02'), code: 8 },
    ]);
    expect(() => tableFromCsv('n\n1\nx\n', { schema: { n: 'number' } })).toThrow(
      /record 3, column "n": "x" is not a number/,
    );
  });

  it('takes column names when there is no header', () => {
    expect(tableFromCsv('1,2\n3,4\n', { columns: ['a', 'b'] }).rows()).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
  });

  it('refuses ragged records, duplicate and empty header names', () => {
    expect(() => tableFromCsv('a,b\n1,2\n3\n')).toThrow(/record 3 has 1 fields, the header has 2/);
    expect(() => tableFromCsv('a,a\n1,2\n')).toThrow(/column "a" appears twice/);
    expect(() => tableFromCsv('a,\n1,2\n')).toThrow(/column 2 of the header has no name/);
  });

  it('reads a file by path or file: URL, naming the file in errors', async () => {
    const path = join(dir, 'small.csv');
    await writeFile(path, 'a,b\n1,"x"\n');
    expect(tableFromCsv(path).rows()).toEqual([{ a: 1, b: 'x' }]);
    expect(tableFromCsv(pathToFileURL(path)).numRows).toBe(1);
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'a\n"open\n');
    expect(() => tableFromCsv(bad)).toThrow(
      new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line 2`),
    );
    expect(() => tableFromCsv(join(dir, 'missing.csv'))).toThrow(
      /cannot read CSV file .*missing\.csv: ENOENT/,
    );
  });

  it('returns an empty table for empty text and a zero-row table for a header alone', () => {
    expect(tableFromCsv('\n').numRows).toBe(0);
    const header = tableFromCsv('a,b\n');
    expect(header.numRows).toBe(0);
    expect(header.columnNames).toEqual(['a', 'b']);
  });
});

describe('tableFromJson', () => {
  it('takes an array, JSON text or a file', async () => {
    expect(tableFromJson([{ a: 1 }]).rows()).toEqual([{ a: 1 }]);
    expect(tableFromJson('[{"a":1},{"a":null}]').column('a')).toEqual([1, null]);
    expect(() => tableFromJson('[{"a":1}')).toThrow(/not valid JSON/);
    expect(() => tableFromJson('{"a":1}.json')).toThrow(/cannot read JSON file/);
  });
});
