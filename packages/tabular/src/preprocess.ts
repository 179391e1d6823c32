import { CairnError, ErrorCodes } from '@cairn/core';
import { quantileSorted } from './stats';
import { isMissing, Table } from './table';

/** Options of {@link fitPreprocessor}. */
export interface PreprocessorOptions {
  /** Numeric feature columns, in the order they appear in the feature vector. */
  numeric?: string[];
  /** Categorical feature columns, one-hot encoded after the numeric ones. */
  categorical?: string[];
  /** What replaces a missing numeric value, learned on the training rows. @default 'mean' */
  impute?: 'mean' | 'median';
  /** `'standard'`: subtract the mean and divide by the standard deviation. @default 'standard' */
  scale?: 'standard' | 'none';
}

/** The learned state of a {@link Preprocessor}: plain JSON, carried in a model bundle. */
export interface PreprocessorState {
  version: 1;
  impute: 'mean' | 'median';
  scale: 'standard' | 'none';
  numeric: Array<{ name: string; mean: number; std: number; fill: number }>;
  categorical: Array<{ name: string; categories: string[] }>;
}

/**
 * Turns rows into numeric feature vectors the same way at training and at
 * serving time: numeric columns imputed (missing → the training mean or
 * median) and standardized, categorical columns one-hot encoded over the
 * training vocabulary (an unknown or missing category → all zeros).
 * Build with {@link fitPreprocessor}; store with `toJSON()`, restore with
 * {@link Preprocessor.fromJSON}.
 */
export class Preprocessor {
  readonly state: PreprocessorState;

  private constructor(state: PreprocessorState) {
    this.state = state;
  }

  /** @internal */
  static create(state: PreprocessorState): Preprocessor {
    return new Preprocessor(state);
  }

  /** Restore a preprocessor saved with `toJSON()`; refuses anything malformed. */
  static fromJSON(data: unknown): Preprocessor {
    const fail = (what: string): never => {
      throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `not a saved Preprocessor: ${what}`);
    };
    if (typeof data !== 'object' || data === null) return fail('expected an object');
    const s = data as Partial<PreprocessorState>;
    if (s.version !== 1) fail(`unsupported version ${JSON.stringify(s.version)}`);
    if (s.impute !== 'mean' && s.impute !== 'median') fail('"impute" must be mean or median');
    if (s.scale !== 'standard' && s.scale !== 'none') fail('"scale" must be standard or none');
    if (!Array.isArray(s.numeric)) return fail('"numeric" must be an array');
    if (!Array.isArray(s.categorical)) return fail('"categorical" must be an array');
    for (const n of s.numeric) {
      if (
        typeof n?.name !== 'string' ||
        ![n.mean, n.std, n.fill].every((v) => typeof v === 'number' && Number.isFinite(v))
      ) {
        fail(`numeric feature ${JSON.stringify(n?.name)} needs finite mean, std and fill`);
      }
    }
    for (const c of s.categorical) {
      if (
        typeof c?.name !== 'string' ||
        !Array.isArray(c.categories) ||
        c.categories.some((v) => typeof v !== 'string')
      ) {
        fail(`categorical feature ${JSON.stringify(c?.name)} needs a list of string categories`);
      }
    }
    return new Preprocessor(structuredClone(s as PreprocessorState));
  }

  /** Names of the output features, in vector order: `bill_length_mm`, `island=Biscoe`, … */
  get featureNames(): string[] {
    return [
      ...this.state.numeric.map((n) => n.name),
      ...this.state.categorical.flatMap((c) => c.categories.map((v) => `${c.name}=${v}`)),
    ];
  }

  /** Feature vectors for rows (a table or row objects). */
  transform(rows: readonly object[] | Table<any>): number[][] {
    const list = Table.isTable(rows) ? rows.rows() : rows;
    return list.map((row, i) => this.#vector(row as Record<string, unknown>, i));
  }

  /** The feature vector of one row (serving). */
  transformRow(row: object): number[] {
    return this.#vector(row as Record<string, unknown>, 0);
  }

  toJSON(): PreprocessorState {
    return structuredClone(this.state);
  }

  #vector(row: Record<string, unknown>, index: number): number[] {
    const out: number[] = [];
    const standard = this.state.scale === 'standard';
    for (const n of this.state.numeric) {
      const value = row[n.name];
      let x: number;
      if (isMissing(value)) x = n.fill;
      else if (typeof value === 'number') x = value;
      else {
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `row ${index}, column "${n.name}": ${JSON.stringify(value)} is not a number`,
        );
      }
      out.push(standard ? (x - n.mean) / n.std : x);
    }
    for (const c of this.state.categorical) {
      const value = row[c.name];
      const key = isMissing(value) ? undefined : String(value);
      for (const category of c.categories) out.push(category === key ? 1 : 0);
    }
    return out;
  }
}

/**
 * Learn a {@link Preprocessor} from training rows only (means, standard
 * deviations, fill values and category vocabularies), so that nothing about
 * the test rows leaks into the model.
 *
 * @example
 * ```ts
 * const prep = fitPreprocessor(train, { numeric: ['bill_length_mm', 'flipper_length_mm'], categorical: ['island'] });
 * const X = prep.transform(train);
 * ```
 */
export function fitPreprocessor(
  rows: readonly object[] | Table<any>,
  options: PreprocessorOptions,
): Preprocessor {
  const list = (Table.isTable(rows) ? rows.rows() : rows) as ReadonlyArray<Record<string, unknown>>;
  const numeric = options.numeric ?? [];
  const categorical = options.categorical ?? [];
  const impute = options.impute ?? 'mean';
  const scale = options.scale ?? 'standard';
  const bad = (message: string): never => {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `fitPreprocessor: ${message}`);
  };
  if (impute !== 'mean' && impute !== 'median')
    bad(`option "impute" must be mean or median, got ${JSON.stringify(impute)}`);
  if (scale !== 'standard' && scale !== 'none')
    bad(`option "scale" must be standard or none, got ${JSON.stringify(scale)}`);
  if (numeric.length + categorical.length === 0)
    bad('name at least one column in "numeric" or "categorical"');
  const all = [...numeric, ...categorical];
  const dup = all.find((c, i) => all.indexOf(c) !== i);
  if (dup !== undefined) bad(`column "${dup}" is listed twice`);
  if (list.length === 0) bad('no training rows');
  for (const name of all) {
    if (!list.some((row) => name in row)) bad(`no row has a column "${name}"`);
  }

  const state: PreprocessorState = { version: 1, impute, scale, numeric: [], categorical: [] };
  for (const name of numeric) {
    const values: number[] = [];
    for (const [i, row] of list.entries()) {
      const value = row[name];
      if (isMissing(value)) continue;
      if (typeof value !== 'number')
        bad(`row ${i}, column "${name}": ${JSON.stringify(value)} is not a number`);
      values.push(value as number);
    }
    if (values.length === 0) bad(`column "${name}" has no values in the training rows`);
    let sum = 0;
    for (const v of values) sum += v;
    const mean = sum / values.length;
    let squares = 0;
    for (const v of values) squares += (v - mean) ** 2;
    const std = Math.sqrt(squares / values.length);
    const fill = impute === 'mean' ? mean : quantileSorted(Float64Array.from(values).sort(), 0.5);
    // A constant column would divide by zero; scaling by 1 keeps it at 0.
    state.numeric.push({ name, mean, std: std > 0 ? std : 1, fill });
  }
  for (const name of categorical) {
    const categories = new Set<string>();
    for (const row of list) {
      const value = row[name];
      if (!isMissing(value)) categories.add(String(value));
    }
    state.categorical.push({ name, categories: [...categories].sort() });
  }
  return Preprocessor.create(state);
}

/** Maps class labels to integers 0…k−1 (labels sorted) and back; the JSON form is the label list. */
export class LabelEncoder {
  readonly labels: readonly string[];
  readonly #index: Map<string, number>;

  constructor(labels: readonly string[]) {
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        'a LabelEncoder needs an array of string labels',
      );
    }
    if (new Set(labels).size !== labels.length) {
      throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, 'a LabelEncoder needs distinct labels');
    }
    this.labels = [...labels];
    this.#index = new Map(labels.map((l, i) => [l, i]));
  }

  static fromJSON(data: { labels: string[] }): LabelEncoder {
    return new LabelEncoder(data?.labels);
  }

  /** The index of a label; an unknown label is refused. */
  encode(label: string): number {
    const index = this.#index.get(label);
    if (index === undefined) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `unknown label ${JSON.stringify(label)}; known labels are ${this.labels.map((l) => JSON.stringify(l)).join(', ')}`,
      );
    }
    return index;
  }

  /** The label of an index. */
  decode(index: number): string {
    const label = this.labels[index];
    if (label === undefined) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `label index ${index} is outside 0…${this.labels.length - 1}`,
      );
    }
    return label;
  }

  encodeAll(labels: readonly string[]): number[] {
    return labels.map((l) => this.encode(l));
  }

  decodeAll(indices: readonly number[]): string[] {
    return indices.map((i) => this.decode(i));
  }

  toJSON(): { labels: string[] } {
    return { labels: [...this.labels] };
  }
}

/**
 * A {@link LabelEncoder} over the distinct values seen (missing values are
 * skipped), sorted so the mapping does not depend on row order.
 *
 * @example
 * ```ts
 * const species = labelEncoder(train.map((r) => r.species));
 * const y = species.encodeAll(train.map((r) => r.species));
 * ```
 */
export function labelEncoder(
  values: ReadonlyArray<string | number | boolean | null | undefined>,
): LabelEncoder {
  const labels = new Set<string>();
  for (const v of values) if (!isMissing(v)) labels.add(String(v));
  return new LabelEncoder([...labels].sort());
}
