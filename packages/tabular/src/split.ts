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
