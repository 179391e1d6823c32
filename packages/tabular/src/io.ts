import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CairnError, ErrorCodes } from '@cairn/core';
import { type CsvField, parseCsv } from './csv';
import {
  type CellValue,
  type ColumnType,
  checkSchemaOption,
  type Table,
  type TableOptions,
  tableFromRows,
} from './table';

/** Options of {@link tableFromCsv}. */
export interface CsvOptions extends TableOptions {
  /** Field separator, one character (`'\t'` for TSV). @default ',' */
  delimiter?: string;
  /**
   * Column names when the first record is data, not a header. Without it the
   * first record is the header.
   */
  columns?: string[];
  /**
   * Unquoted field texts that mean "missing". An empty unquoted field is
   * always missing; a quoted `""` is an empty string.
   * @default ['']
   */
  nullValues?: string[];
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
// "007" and "02134" are identifiers (zip codes, ids), not numbers: keep them as strings.
const LEADING_ZERO = /^[+-]?0\d/;

/**
 * Build a table from CSV text or a CSV file. A string with a line break is CSV
 * text; a string without one is a file path (as is a `file:` URL).
 *
 * Column types are detected: a column whose every non-missing field is a
 * decimal number is `number` (unless some field has a leading zero, like a
 * zip code), one of only `true`/`false` is `boolean`, anything else is
 * `string`. `options.schema` overrides the detection (and is the only way to
 * get `date` columns: fields are parsed with `new Date(text)`).
 *
 * @example
 * ```ts
 * const penguins = tableFromCsv<Penguin>('data/penguins.csv', { nullValues: ['', 'NA'] });
 * ```
 */
export function tableFromCsv<Row extends object = Record<string, CellValue>>(
  source: string | URL,
  options: CsvOptions = {},
): Table<Row> {
  const { text, name } = readSource(source, 'CSV');
  const schema = checkSchemaOption(options.schema);
  const nullValues = new Set(options.nullValues ?? ['']);
  nullValues.add('');
  const records = parseCsv(text, {
    ...(options.delimiter ? { delimiter: options.delimiter } : {}),
    source: name,
  });
  // Blank lines carry no data.
  const data = records.filter((r) => !(r.length === 1 && !r[0]!.quoted && r[0]!.text === ''));
  let header: string[];
  let firstLine = 2;
  if (options.columns !== undefined) {
    if (!Array.isArray(options.columns) || options.columns.some((c) => typeof c !== 'string')) {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `option "columns" must be an array of column names`,
      );
    }
    header = options.columns;
    firstLine = 1;
  } else {
    if (data.length === 0) return tableFromRows<Row>([], options.schema ? { schema } : {});
    header = data.shift()!.map((f) => f.text);
  }
  const seen = new Set<string>();
  for (const [index, column] of header.entries()) {
    if (column === '') {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `${name}: column ${index + 1} of the header has no name`,
      );
    }
    if (seen.has(column)) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `${name}: column "${column}" appears twice in the header`,
      );
    }
    seen.add(column);
  }
  for (const [index, record] of data.entries()) {
    if (record.length !== header.length) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `${name}: record ${index + firstLine} has ${record.length} fields, the header has ${header.length}`,
      );
    }
  }
  const isNull = (field: CsvField) => !field.quoted && nullValues.has(field.text);
  const types = header.map((column, c) => schema[column] ?? detectType(data, c, isNull));
  const rows = data.map((record, r) => {
    const row: Record<string, CellValue> = {};
    for (let c = 0; c < header.length; c++) {
      const field = record[c]!;
      row[header[c]!] = isNull(field)
        ? null
        : convert(field.text, types[c]!, () => {
            throw new CairnError(
              ErrorCodes.ARTIFACT_TYPE_MISMATCH,
              `${name}: record ${r + firstLine}, column "${header[c]}": ${JSON.stringify(field.text)} is not a ${types[c]}`,
            );
          });
    }
    return row;
  });
  const fullSchema: Record<string, ColumnType> = {};
  for (const [c, column] of header.entries()) fullSchema[column] = types[c]!;
  return tableFromRows<Row>(rows as Row[], { schema: fullSchema });
}

/**
 * Build a table from an array of row objects, JSON text holding one, or a
 * JSON file holding one (a string that does not start with `[` is a path).
 */
export function tableFromJson<Row extends object = Record<string, CellValue>>(
  source: readonly Row[] | string | URL,
  options: TableOptions = {},
): Table<Row> {
  if (Array.isArray(source)) return tableFromRows<Row>(source, options);
  let text: string;
  let name: string;
  if (typeof source === 'string' && source.trimStart().startsWith('[')) {
    text = source;
    name = 'JSON';
  } else {
    ({ text, name } = readSource(source as string | URL, 'JSON', true));
  }
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch (cause) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      `${name}: not valid JSON (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  if (!Array.isArray(rows)) {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `${name}: expected a JSON array of row objects`);
  }
  return tableFromRows<Row>(rows as Row[], options);
}

function readSource(source: string | URL, kind: string, alwaysPath = false): { text: string; name: string } {
  if (typeof source === 'string' && !alwaysPath && /[\r\n]/.test(source)) return { text: source, name: kind };
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `expected ${kind} text, a file path or a file: URL`,
    );
  }
  const path = source instanceof URL ? fileURLToPath(source) : source;
  try {
    return { text: readFileSync(path, 'utf8'), name: path };
  } catch (cause) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_NOT_FOUND,
      `cannot read ${kind} file ${path}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
      { cause, hint: `${kind} text must contain a line break; a string without one is read as a file path` },
    );
  }
}

function detectType(records: CsvField[][], column: number, isNull: (f: CsvField) => boolean): ColumnType {
  let numbers = true;
  let booleans = true;
  let any = false;
  for (const record of records) {
    const field = record[column]!;
    if (isNull(field)) continue;
    any = true;
    const text = field.text.trim();
    if (numbers && (!NUMBER.test(text) || LEADING_ZERO.test(text))) numbers = false;
    if (booleans && !/^(true|false)$/i.test(text)) booleans = false;
    if (!numbers && !booleans) return 'string';
  }
  if (!any) return 'string';
  return numbers ? 'number' : 'boolean';
}

function convert(text: string, type: ColumnType, fail: () => never): CellValue {
  switch (type) {
    case 'string':
      return text;
    case 'number': {
      const trimmed = text.trim();
      const value = Number(trimmed);
      return trimmed === '' || Number.isNaN(value) ? fail() : value;
    }
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : fail();
    }
    case 'date': {
      const date = new Date(text.trim());
      return Number.isNaN(date.getTime()) ? fail() : date;
    }
  }
}
