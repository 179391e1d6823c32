import { CairnError, ErrorCodes } from '@cairn/core';
import { seededRandom, shuffleInPlace } from './random';
import { Table } from './table';

/** Options of {@link stratifiedSplit}. */
export interface StratifiedSplitOptions<Row> {
  /** The column whose classes keep their proportions in both parts (usually the label). */
  by: keyof Row & string;
  /** Share of each class that goes to the test part, strictly between 0 and 1. @default 0.2 */
  testFraction?: number;
  /** Seed of the pseudo-random generator: same seed and rows, same split. @default 0 */
  seed?: number;
}

/** Options of {@link randomSplit}. */
export interface RandomSplitOptions {
  /** Share of rows that goes to the test part, strictly between 0 and 1. @default 0.2 */
  testFraction?: number;
  /** @default 0 */
  seed?: number;
}

/** The two parts of a split; rows keep their original order within each part. */
export interface Split<Row> {
  train: Row[];
  test: Row[];
}

/**
 * Split rows into train and test so that every class of `by` keeps its
 * proportion: each class sends `round(n × testFraction)` of its rows to test,
 * at least one and at most n − 1 when it has two rows or more (a class with
 * one row goes to train). Deterministic for a seed. Missing labels form a
 * class of their own.
 *
 * @example
 * ```ts
 * const { train, test } = stratifiedSplit(table.rows(), { by: 'species', testFraction: 0.2, seed: 42 });
 * ```
 */
export function stratifiedSplit<Row extends object>(
  rows: readonly Row[] | Table<Row>,
  options: StratifiedSplitOptions<Row>,
): Split<Row> {
  const list = Table.isTable(rows) ? rows.rows() : rows;
  const fraction = checkFraction(options.testFraction ?? 0.2, 'stratifiedSplit');
  const seed = checkSeed(options.seed ?? 0, 'stratifiedSplit');
  if (typeof options.by !== 'string' || options.by === '') {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      'stratifiedSplit: option "by" must name a column',
    );
  }
  if (list.length > 0 && !list.some((row) => options.by in row)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `stratifiedSplit: no row has a column "${options.by}" (option "by")`,
    );
  }
  const groups = new Map<string, number[]>();
  for (let i = 0; i < list.length; i++) {
    const value = (list[i] as Record<string, unknown>)[options.by];
    const key = value === null || value === undefined ? '\u0000missing' : `${typeof value}:${String(value)}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = [];
      groups.set(key, group);
    }
    group.push(i);
  }
  const random = seededRandom(seed);
  const inTest = new Uint8Array(list.length);
  // Classes in a fixed order so the generator's draws do not depend on row order across classes.
  for (const key of [...groups.keys()].sort()) {
    const indices = groups.get(key)!;
    shuffleInPlace(indices, random);
    const n = indices.length;
    const take = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
    for (let k = 0; k < take; k++) inTest[indices[k]!] = 1;
  }
  return partition(list, inTest);
}

/** Split rows at random into train and test (`round(n × testFraction)` test rows). Deterministic for a seed. */
export function randomSplit<Row>(rows: readonly Row[], options: RandomSplitOptions = {}): Split<Row> {
  const fraction = checkFraction(options.testFraction ?? 0.2, 'randomSplit');
  const seed = checkSeed(options.seed ?? 0, 'randomSplit');
  const indices = rows.map((_, i) => i);
  shuffleInPlace(indices, seededRandom(seed));
  const inTest = new Uint8Array(rows.length);
  const take = Math.round(rows.length * fraction);
  for (let k = 0; k < take; k++) inTest[indices[k]!] = 1;
  return partition(rows, inTest);
}

function partition<Row>(rows: readonly Row[], inTest: Uint8Array): Split<Row> {
  const train: Row[] = [];
  const test: Row[] = [];
  for (let i = 0; i < rows.length; i++) (inTest[i] ? test : train).push(rows[i]!);
  return { train, test };
}

function checkFraction(value: unknown, fn: string): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `${fn}: option "testFraction" must be a number strictly between 0 and 1, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function checkSeed(value: unknown, fn: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `${fn}: option "seed" must be an integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Options of {@link timeSplit}. */
export interface TimeSplitOptions<Row> {
  /** The time column: dates, epoch numbers, or ISO date strings. */
  by: keyof Row & string;
  /** Share of rows, the latest ones, that goes to the test part. @default 0.2 */
  testFraction?: number;
}

/**
 * Split rows by time: the latest `round(n × testFraction)` rows are the
 * test part, everything before them trains — as the model will be used, on
 * data newer than any it learned from. Rows keep their original order
 * within each part; ties at the boundary keep their original order too.
 *
 * @throws CAIRN_DATA_INVALID when a row has no time or one that is not a date
 */
export function timeSplit<Row extends object>(
  rows: readonly Row[] | Table<Row>,
  options: TimeSplitOptions<Row>,
): Split<Row> {
  const list = Table.isTable(rows) ? rows.rows() : rows;
  const fraction = checkFraction(options.testFraction ?? 0.2, 'timeSplit');
  const times = timesOf(list, options.by, 'timeSplit');
  const order = list.map((_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);
  const inTest = new Uint8Array(list.length);
  const take = Math.round(list.length * fraction);
  for (let k = list.length - take; k < list.length; k++) inTest[order[k]!] = 1;
  return partition(list, inTest);
}

/** A time window: the rows of the last `last` (e.g. `'730d'`, `'12w'`, `'36h'`) before the newest row. */
export interface TimeWindow {
  column: string;
  last: string;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `'730d'` → milliseconds. @throws CAIRN_PLUGIN_OPTIONS_INVALID for another form */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([hdw])$/.exec(typeof text === 'string' ? text.trim() : '');
  if (!match || !(Number(match[1]) > 0)) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `window: "last" must be a positive duration such as "730d", "12w" or "36h", got ${JSON.stringify(text)}`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/**
 * Keep the rows whose time is within `window.last` of the newest row's time.
 * Relative to the data, not the clock: the same rows give the same window,
 * and a retrain after new data arrived moves the window with it.
 *
 * @throws CAIRN_DATA_INVALID when a row has no time; CAIRN_PLUGIN_OPTIONS_INVALID for a bad duration
 */
export function timeWindow<Row extends object>(rows: readonly Row[] | Table<Row>, window: TimeWindow): Row[] {
  const list = Table.isTable(rows) ? rows.rows() : rows;
  const span = parseDuration(window.last);
  if (list.length === 0) return [];
  const times = timesOf(list, window.column as keyof Row & string, 'timeWindow');
  let newest = Number.NEGATIVE_INFINITY;
  for (const t of times) if (t > newest) newest = t;
  return list.filter((_, i) => times[i]! > newest - span);
}

function timesOf<Row extends object>(rows: readonly Row[], column: string, fn: string): number[] {
  if (typeof column !== 'string' || column === '') {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${fn}: option "by" must name a column`);
  }
  return rows.map((row, i) => {
    const value = (row as Record<string, unknown>)[column];
    const time =
      value instanceof Date
        ? value.getTime()
        : typeof value === 'number'
          ? value
          : typeof value === 'string'
            ? Date.parse(value)
            : Number.NaN;
    if (!Number.isFinite(time)) {
      throw new CairnError(
        ErrorCodes.DATA_INVALID,
        `${fn}: row ${i}, column "${column}": ${JSON.stringify(value) ?? String(value)} is not a time`,
      );
    }
    return time;
  });
}
