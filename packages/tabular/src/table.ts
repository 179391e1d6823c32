import { CairnError, ErrorCodes } from '@cairn/core';
import {
  Table as ArrowTable,
  Bool,
  DataType,
  DateMillisecond,
  Field,
  Float64,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';

/** The column types a {@link Table} holds. Numbers are float64, dates are milliseconds since the epoch. */
export type ColumnType = 'number' | 'string' | 'boolean' | 'date';

/** One value in a table cell; `null` is a missing value. */
export type CellValue = number | string | boolean | Date | null;

/** One column of a table's schema. */
export interface ColumnField {
  name: string;
  type: ColumnType;
  /** True when the column holds at least one missing value. */
  nullable: boolean;
}

/** A table's columns, in order. */
export interface TableSchema {
  fields: ColumnField[];
}

/** Options shared by the table builders. */
export interface TableOptions {
  /**
   * Column types to use instead of inferring them; columns listed here and
   * absent from the data become all-missing columns of that type. Columns not
   * listed are inferred.
   * @example { species: 'string', bill_length_mm: 'number' }
   */
  schema?: Record<string, ColumnType>;
}

const TABLE = Symbol.for('cairn.tabular.table');
const COLUMN_TYPES: readonly ColumnType[] = ['number', 'string', 'boolean', 'date'];

/**
 * An immutable table of rows backed by an Apache Arrow table. `Row` is the
 * shape of one row as the step sees it; missing values are `null`, so declare
 * columns that can be missing as `T | null`.
 *
 * Build one with {@link tableFromRows}, {@link tableFromCsv} or
 * {@link tableFromJson}; store it as a `table<Row>()` artifact.
 */
export class Table<Row extends object = Record<string, CellValue>> {
  readonly [TABLE] = true;
  /** Columns in order, with their type and whether they hold missing values. */
  readonly schema: TableSchema;
  readonly #arrow: ArrowTable;
  readonly #columns = new Map<string, CellValue[]>();

  /** Wrap an Arrow table that already holds canonical columns; use {@link Table.fromArrow} for any other. */
  private constructor(arrow: ArrowTable, schema: TableSchema) {
    this.#arrow = arrow;
    this.schema = schema;
  }

  /** Works across module copies where `instanceof` does not. */
  static isTable(value: unknown): value is Table<any> {
    return typeof value === 'object' && value !== null && (value as any)[TABLE] === true;
  }

  /**
   * Wrap an Apache Arrow table. Integer, float, dictionary-of-string, date and
   * timestamp columns are converted to the four column types; any other Arrow
   * type is refused with a message naming the column.
   */
  static fromArrow<Row extends object = Record<string, CellValue>>(arrow: ArrowTable): Table<Row> {
    const fields: ColumnField[] = [];
    let converted: Record<string, Vector> | undefined;
    for (const [index, field] of arrow.schema.fields.entries()) {
      const type = columnTypeOf(field.type);
      if (type === undefined) {
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `column "${field.name}" has Arrow type ${String(field.type)}; a table holds numbers, strings, booleans and dates`,
        );
      }
      const vector = arrow.getChildAt(index)!;
      fields.push({ name: field.name, type, nullable: vector.nullCount > 0 });
      if (!isCanonical(field.type, type) || field.nullable !== vector.nullCount > 0) {
        converted ??= {};
        converted[field.name] = buildVector(field.name, type, readVector(vector, field.type));
      }
    }
    if (converted !== undefined) {
      // Rebuild every column so that all are single chunks of the same length.
      const columns: Record<string, Vector> = {};
      for (const [index, field] of arrow.schema.fields.entries()) {
        columns[field.name] =
          converted[field.name] ??
          buildVector(field.name, fields[index]!.type, readVector(arrow.getChildAt(index)!, field.type));
      }
      return Table.#assemble<Row>(fields, columns, arrow.numRows);
    }
    return new Table<Row>(arrow, { fields });
  }

  /** @internal Build from single-chunk canonical vectors; field nullability decides the Arrow schema. */
  static #assemble<Row extends object>(
    fields: ColumnField[],
    columns: Record<string, Vector>,
    numRows: number,
  ): Table<Row> {
    const arrowFields = fields.map((f) => new Field(f.name, arrowType(f.type), f.nullable));
    const children = fields.map((f) => {
      const vector = columns[f.name]!;
      if (vector.length !== numRows || vector.data.length !== 1) {
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `column "${f.name}" does not have ${numRows} rows`,
        );
      }
      return vector.data[0]!;
    });
    const struct = makeData({ type: new Struct(arrowFields), length: numRows, nullCount: 0, children });
    const schema = new Schema(arrowFields);
    return new Table<Row>(new ArrowTable(schema, [new RecordBatch(schema, struct)]), { fields });
  }

  /** @internal Used by the builders: typed columns of equal length. */
  static fromColumns<Row extends object>(
    columns: Array<{ name: string; type: ColumnType; values: CellValue[] }>,
    numRows: number,
  ): Table<Row> {
    const fields: ColumnField[] = [];
    const vectors: Record<string, Vector> = {};
    for (const column of columns) {
      const vector = buildVector(column.name, column.type, column.values);
      fields.push({ name: column.name, type: column.type, nullable: vector.nullCount > 0 });
      vectors[column.name] = vector;
    }
    return Table.#assemble<Row>(fields, vectors, numRows);
  }

  /** Number of rows. */
  get numRows(): number {
    return this.#arrow.numRows;
  }

  /** Column names, in order. */
  get columnNames(): string[] {
    return this.schema.fields.map((f) => f.name);
  }

  /** All rows as plain objects (a fresh array each call; missing values are `null`, dates are `Date`s). */
  rows(): Row[] {
    const names = this.columnNames;
    const columns = names.map((name) => this.#values(name));
    const out = new Array<Row>(this.numRows);
    for (let i = 0; i < out.length; i++) {
      const row: Record<string, CellValue> = {};
      for (let c = 0; c < names.length; c++) {
        const value = columns[c]![i]!;
        row[names[c]!] = value instanceof Date ? new Date(value.getTime()) : value;
      }
      out[i] = row as Row;
    }
    return out;
  }

  /** One column's values in row order (a fresh array; missing values are `null`). */
  column<K extends keyof Row & string>(name: K): Array<Row[K] | null> {
    return this.#values(name).map((v) => (v instanceof Date ? new Date(v.getTime()) : v)) as Array<
      Row[K] | null
    >;
  }

  /** The type of a column, or `undefined` when there is no such column. */
  columnType(name: string): ColumnType | undefined {
    return this.schema.fields.find((f) => f.name === name)?.type;
  }

  /** The underlying Apache Arrow table (shared, do not mutate). */
  toArrow(): ArrowTable {
    return this.#arrow;
  }

  #values(name: string): CellValue[] {
    let values = this.#columns.get(name);
    if (values === undefined) {
      const index = this.schema.fields.findIndex((f) => f.name === name);
      if (index < 0) {
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `table has no column "${name}"; its columns are ${this.columnNames.map((n) => `"${n}"`).join(', ')}`,
        );
      }
      const field = this.#arrow.schema.fields[index]!;
      values = readVector(this.#arrow.getChildAt(index)!, field.type);
      if (this.schema.fields[index]!.type === 'date') {
        values = values.map((v) => (v === null ? null : new Date(v as number)));
      }
      this.#columns.set(name, values);
    }
    return values;
  }
}

/** True when a value counts as missing: `null`, `undefined`, `NaN` or an invalid `Date`. */
export function isMissing(value: unknown): value is null | undefined {
  return (
    value === null ||
    value === undefined ||
    (typeof value === 'number' && Number.isNaN(value)) ||
    (value instanceof Date && Number.isNaN(value.getTime()))
  );
}

/**
 * Build a table from plain row objects. Columns are the union of the rows'
 * keys in first-seen order; each column's type is inferred from its values
 * (numbers, strings, booleans or `Date`s — one kind per column) unless
 * `options.schema` names it. `null`, `undefined` and `NaN` are missing values.
 *
 * @example
 * ```ts
 * const penguins = tableFromRows([{ species: 'Adelie', bill_length_mm: 39.1 }]);
 * ```
 */
export function tableFromRows<Row extends object>(
  rows: readonly Row[],
  options: TableOptions = {},
): Table<Row> {
  if (!Array.isArray(rows)) {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `tableFromRows expects an array of row objects`);
  }
  const schema = checkSchemaOption(options.schema);
  const names = new Map<string, number>();
  for (const name of Object.keys(schema)) names.set(name, names.size);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `row ${i} is not an object`);
    }
    for (const key in row) if (!names.has(key)) names.set(key, names.size);
  }
  const columns = [...names.keys()].map((name) => {
    const values = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) values[i] = (rows[i] as Record<string, unknown>)[name];
    const type = schema[name] ?? inferType(name, values);
    return { name, type, values: coerceColumn(name, type, values) };
  });
  return Table.fromColumns<Row>(columns, rows.length);
}

/** @internal Check a `schema` option and return it (or an empty map). */
export function checkSchemaOption(schema: unknown): Record<string, ColumnType> {
  if (schema === undefined) return {};
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `option "schema" must map column names to types`);
  }
  for (const [name, type] of Object.entries(schema)) {
    if (!COLUMN_TYPES.includes(type as ColumnType)) {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `option "schema.${name}" is ${JSON.stringify(type)}; expected one of ${COLUMN_TYPES.join(', ')}`,
      );
    }
  }
  return schema as Record<string, ColumnType>;
}

function kindOf(value: unknown): ColumnType | string {
  if (typeof value === 'number' || typeof value === 'bigint') return 'number';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (value instanceof Date) return 'date';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** Infer a column's type from its non-missing values; all-missing columns are strings. */
function inferType(name: string, values: readonly unknown[]): ColumnType {
  let type: ColumnType | undefined;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isMissing(value)) continue;
    const kind = kindOf(value);
    if (!COLUMN_TYPES.includes(kind as ColumnType)) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `column "${name}", row ${i}: a value of type ${kind} cannot go in a table (numbers, strings, booleans, dates)`,
      );
    }
    if (type === undefined) {
      type = kind as ColumnType;
      first = i;
    } else if (kind !== type) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `column "${name}" mixes types: row ${first} is a ${type}, row ${i} is a ${kind}; pass options.schema to say which it is`,
      );
    }
  }
  return type ?? 'string';
}

/** Check every value against the column type; dates also accept epoch milliseconds and ISO strings. */
function coerceColumn(name: string, type: ColumnType, values: unknown[]): CellValue[] {
  const out = new Array<CellValue>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isMissing(value)) {
      out[i] = null;
      continue;
    }
    let cell: CellValue | undefined;
    if (type === 'number') {
      if (typeof value === 'number') cell = value;
      else if (typeof value === 'bigint') cell = Number(value);
    } else if (type === 'string') {
      if (typeof value === 'string') cell = value;
    } else if (type === 'boolean') {
      if (typeof value === 'boolean') cell = value;
    } else if (value instanceof Date) {
      cell = value;
    } else if (typeof value === 'number' || typeof value === 'string') {
      const date = new Date(value);
      if (!Number.isNaN(date.getTime())) cell = date;
    }
    if (cell === undefined) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `column "${name}", row ${i}: ${JSON.stringify(value) ?? String(value)} is not a ${type}`,
      );
    }
    out[i] = cell;
  }
  return out;
}

function arrowType(type: ColumnType): DataType {
  switch (type) {
    case 'number':
      return new Float64();
    case 'string':
      return new Utf8();
    case 'boolean':
      return new Bool();
    case 'date':
      return new DateMillisecond();
  }
}

function columnTypeOf(type: DataType): ColumnType | undefined {
  if (DataType.isFloat(type) || DataType.isInt(type)) return 'number';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return 'string';
  if (DataType.isDictionary(type)) return DataType.isUtf8(type.dictionary) ? 'string' : undefined;
  if (DataType.isBool(type)) return 'boolean';
  if (DataType.isDate(type) || DataType.isTimestamp(type)) return 'date';
  return undefined;
}

function isCanonical(type: DataType, column: ColumnType): boolean {
  return String(type) === String(arrowType(column));
}

/** Values of a vector as JS values; dates stay epoch milliseconds here. */
function readVector(vector: Vector, type: DataType): CellValue[] {
  const out = new Array<CellValue>(vector.length);
  let i = 0;
  if (DataType.isFloat(type) && vector.nullCount === 0) {
    for (const chunk of vector.data) {
      const values = chunk.values as ArrayLike<number>;
      for (let j = 0; j < chunk.length; j++) out[i++] = values[j]!;
    }
    return out;
  }
  for (const value of vector) {
    if (value === null || value === undefined) out[i++] = null;
    else if (typeof value === 'bigint') out[i++] = Number(value);
    else if (value instanceof Date) out[i++] = value.getTime();
    else out[i++] = value as CellValue;
  }
  return out;
}

/** Build one canonical Arrow vector (a single chunk, zeroed missing slots so bytes are deterministic). */
function buildVector(name: string, type: ColumnType, values: readonly CellValue[]): Vector {
  const length = values.length;
  if (type === 'number' || type === 'date') {
    const data = type === 'number' ? new Float64Array(length) : new BigInt64Array(length);
    const bitmap = new Uint8Array((length + 7) >> 3);
    let nullCount = 0;
    for (let i = 0; i < length; i++) {
      const value = values[i];
      if (value === null || value === undefined) {
        nullCount++;
        continue;
      }
      bitmap[i >> 3]! |= 1 << (i & 7);
      if (type === 'number') (data as Float64Array)[i] = value as number;
      else {
        const ms = value instanceof Date ? value.getTime() : (value as number);
        if (!Number.isFinite(ms)) {
          throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `column "${name}", row ${i}: invalid date`);
        }
        (data as BigInt64Array)[i] = BigInt(Math.trunc(ms));
      }
    }
    const arrow = arrowType(type);
    return makeVector(
      makeData({
        type: arrow as Float64,
        length,
        nullCount,
        data: data as Float64Array,
        ...(nullCount > 0 ? { nullBitmap: bitmap } : {}),
      }),
    );
  }
  return vectorFromArray(values as Array<string | boolean | null>, arrowType(type) as Utf8 | Bool) as Vector;
}
