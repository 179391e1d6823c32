import { isPlainObject } from './merge';

/** A key of the merged config that the step's schema does not know. */
export interface UnknownKey {
  path: string[];
  /** The keys the schema accepts at that level, when they are known. */
  known: string[];
}

/** The parts of a zod (v4) schema's definition this module reads. */
interface ZodDef {
  type?: string;
  shape?: Record<string, unknown>;
  catchall?: unknown;
  innerType?: unknown;
  in?: unknown;
}

function zodDef(schema: unknown): ZodDef | undefined {
  const internals = (schema as { _zod?: { def?: ZodDef } } | null)?._zod;
  return internals?.def;
}

/** Wrappers that accept what their inner schema accepts. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * The object shape a zod schema validates, looking through wrappers
 * (`.optional()`, `.default()`, a `.transform()`'s input). `undefined` when
 * the schema is not a zod object, or accepts any key (`z.looseObject`,
 * `.catchall()`): then nothing can be said about unknown keys.
 */
function zodShape(schema: unknown): Record<string, unknown> | undefined {
  let def = zodDef(schema);
  for (let depth = 0; def && depth < 32; depth++) {
    if (def.type === 'object') {
      const catchall = zodDef(def.catchall);
      // strictObject's catchall is `never`: unknown keys are refused by zod itself, but the shape still names the known ones.
      if (def.catchall !== undefined && catchall?.type !== 'never') return undefined;
      return def.shape;
    }
    if (def.type !== undefined && WRAPPERS.has(def.type)) def = zodDef(def.innerType);
    else if (def.type === 'pipe') def = zodDef(def.in);
    else return undefined;
  }
  return undefined;
}

/** The keys a schema accepts at `path`, if the schema says (zod objects). */
export function knownKeysAt(schema: unknown, path: readonly string[]): string[] | undefined {
  const declared = path.length === 0 ? declaredKeys(schema) : undefined;
  if (declared) return [...declared];
  let node: unknown = schema;
  for (const segment of path) {
    const shape = zodShape(node);
    if (!shape || !Object.hasOwn(shape, segment)) return undefined;
    node = shape[segment];
  }
  const shape = zodShape(node);
  return shape ? Object.keys(shape) : undefined;
}

/**
 * The top-level keys a schema that is not zod declares beside its `~standard` property, as
 * `'~cairn': { keys: [...] }`. A Standard Schema that passes its input through (as a hand-written
 * check may) cannot show a typo by dropping it; one that declares its keys can.
 */
function declaredKeys(schema: unknown): readonly string[] | undefined {
  const keys = (schema as { '~cairn'?: { keys?: unknown } } | null)?.['~cairn']?.keys;
  return Array.isArray(keys) && keys.every((key) => typeof key === 'string') ? keys : undefined;
}

/**
 * Keys present in a step's merged config that its schema dropped: plain
 * `z.object` (and most Standard Schema libraries) strip unknown keys without
 * a word, so a typo such as `tress: 300` would silently fall back to the
 * default. Where the schema is a zod object its shape is read; where it
 * declares its keys (`'~cairn': { keys }`) they are; otherwise a key counts
 * as unknown when it is in the input object but not in the validated output
 * object at the same place.
 */
export function findUnknownKeys(schema: unknown, input: unknown, output: unknown): UnknownKey[] {
  const found: UnknownKey[] = [];
  const isZod = zodDef(schema) !== undefined;
  const declared = isZod ? undefined : declaredKeys(schema);
  if (declared) {
    if (isPlainObject(input))
      for (const key of Object.keys(input))
        if (!declared.includes(key)) found.push({ path: [key], known: [...declared] });
    return found;
  }
  const walk = (node: unknown, inValue: unknown, outValue: unknown, path: string[]) => {
    if (!isPlainObject(inValue)) return;
    if (isZod) {
      const shape = zodShape(node);
      if (!shape) return;
      const known = Object.keys(shape);
      for (const key of Object.keys(inValue)) {
        if (!Object.hasOwn(shape, key)) found.push({ path: [...path, key], known });
        else
          walk(shape[key], inValue[key], isPlainObject(outValue) ? outValue[key] : undefined, [...path, key]);
      }
      return;
    }
    if (!isPlainObject(outValue)) return;
    const known = Object.keys(outValue);
    for (const key of Object.keys(inValue)) {
      if (!Object.hasOwn(outValue, key)) found.push({ path: [...path, key], known });
      else walk(undefined, inValue[key], outValue[key], [...path, key]);
    }
  };
  walk(schema, input, output, []);
  return found;
}

/** "unknown key (did you mean `trees`?)", or the list of known keys when none is close. */
export function describeUnknownKey(key: string, known: readonly string[] | undefined): string {
  const suggestion = closestKey(key, known ?? []);
  if (suggestion) return `unknown key (did you mean \`${suggestion}\`?)`;
  if (known && known.length > 0) {
    const list = known.length > 12 ? `${known.slice(0, 12).join(', ')}, …` : known.join(', ');
    return `unknown key (known keys: ${list})`;
  }
  return 'unknown key';
}

/** The known key nearest to a typo, if it is near enough to be the one meant. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = key.toLowerCase();
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // Two edits cover a transposition or a slip of the finger; more would suggest unrelated words.
  const limit = Math.min(2, Math.max(1, Math.floor(key.length / 3)));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
