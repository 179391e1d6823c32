import type { CellValue, ColumnType, Table } from './table';

/** Summary of one numeric (or date, in epoch milliseconds) column's present values. */
export interface NumericSummary {
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** Quartiles by linear interpolation (p50 is the median). */
  p25: number;
  p50: number;
  p75: number;
}

/**
 * Statistics of one column: plain JSON, so they can be stored with a run and
 * compared with a later batch to detect drift.
 */
export interface ColumnStats {
  name: string;
  type: ColumnType;
  /** Rows in the table. */
  count: number;
  /** Missing values. */
  missing: number;
  /** `missing / count` (0 for an empty table). */
  missingFraction: number;
  /** Distinct present values. */
  distinct: number;
  /** For number and date columns with at least one present value. */
  numeric?: NumericSummary;
  /** For string and boolean columns: how often each present value occurs, most frequent first. */
  categories?: Record<string, number>;
}

/** Statistics of every column of a table, in column order. */
export function columnStats(table: Table<any>): ColumnStats[] {
  return table.schema.fields.map((field) => summarize(field.name, field.type, table.column(field.name)));
}

/** Statistics of one column's values. */
export function summarize(name: string, type: ColumnType, values: readonly CellValue[]): ColumnStats {
  const present: CellValue[] = values.filter((v) => v !== null && v !== undefined);
  const missing = values.length - present.length;
  const stats: ColumnStats = {
    name,
    type,
    count: values.length,
    missing,
    missingFraction: values.length === 0 ? 0 : missing / values.length,
    distinct: 0,
  };
  if (type === 'number' || type === 'date') {
    const numbers = present.map((v) => (v instanceof Date ? v.getTime() : (v as number)));
    stats.distinct = new Set(numbers).size;
    if (numbers.length > 0) stats.numeric = numericSummary(numbers);
  } else {
    const counts = new Map<string, number>();
    for (const v of present) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    stats.distinct = counts.size;
    // Most frequent first, ties by name, so the JSON is stable.
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    stats.categories = Object.fromEntries(sorted);
  }
  return stats;
}

/** min, max, mean, population std and quartiles of a non-empty list of numbers. */
export function numericSummary(numbers: readonly number[]): NumericSummary {
  const sorted = Float64Array.from(numbers).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / sorted.length;
  let squares = 0;
  for (const v of sorted) squares += (v - mean) ** 2;
  return {
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean,
    std: Math.sqrt(squares / sorted.length),
    p25: quantileSorted(sorted, 0.25),
    p50: quantileSorted(sorted, 0.5),
    p75: quantileSorted(sorted, 0.75),
  };
}

/** The q-quantile of sorted numbers, interpolating linearly between ranks (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const a = sorted[lower]!;
  const b = sorted[upper]!;
  return a + (b - a) * (position - lower);
}
