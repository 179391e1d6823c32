import { readFile } from 'node:fs/promises';
import { type ArtifactType, CairnError, defineArtifactType, ErrorCodes } from '@cairn/core';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import { type CellValue, type ColumnType, Table } from './table';

/** What `cairn artifacts show` prints for a table. */
export interface TableDescription {
  rows: number;
  columns: Array<{ name: string; type: ColumnType; nulls: number }>;
}

/**
 * The `table` artifact type: a {@link Table} stored as Apache Arrow IPC file
 * bytes (readable by pyarrow, DuckDB, polars). The same rows always give the
 * same bytes, so the same digest and a cache hit.
 *
 * `Row` is compile-time only: it types `rows()` and keeps `table<Penguin>()`
 * outputs from being wired into inputs of another type.
 *
 * @example
 * ```ts
 * export const ingest = step({
 *   name: 'ingest',
 *   outputs: { data: table<Penguin>() },
 *   run: () => ({ data: tableFromJson<Penguin>('data/penguins.json') }),
 * });
 * ```
 */
export function table<Row extends object = Record<string, CellValue>>(): ArtifactType<Table<Row>, 'table'> {
  return tableType as ArtifactType<Table<Row>, 'table'>;
}

const tableType = defineArtifactType<Table<any>, 'table'>({
  name: 'table',
  form: 'blob',
  check: (value) =>
    Table.isTable(value)
      ? undefined
      : 'expected a Table from @cairn/tabular (build one with tableFromRows, tableFromCsv or tableFromJson)',
  serialize: (value) => ({ bytes: tableToIPC(value.toArrow(), 'file') }),
  async deserialize(source, ctx) {
    const bytes = source.bytes ?? (await readFile(source.path));
    try {
      return Table.fromArrow(tableFromIPC(bytes));
    } catch (cause) {
      if (CairnError.is(cause)) {
        cause.message = `table "${ctx.name}": ${cause.message}`;
        throw cause;
      }
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `table "${ctx.name}": ${source.path} is not an Arrow IPC file (${(cause as Error).message})`,
        { cause },
      );
    }
  },
  describe: (value): Record<string, unknown> => describeTable(value) as unknown as Record<string, unknown>,
});

/** Row count and, per column, its type and number of missing values. */
export function describeTable(value: Table<any>): TableDescription {
  const arrow = value.toArrow();
  return {
    rows: value.numRows,
    columns: value.schema.fields.map((field, index) => ({
      name: field.name,
      type: field.type,
      nulls: arrow.getChildAt(index)!.nullCount,
    })),
  };
}
