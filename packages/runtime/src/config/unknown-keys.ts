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
  /** array */
  element?: unknown;
  /** tuple */
  items?: unknown[];
  /** record */
  valueType?: unknown;
  /** union and discriminated union */
  options?: unknown[];
  /** intersection */
  left?: unknown;
  right?: unknown;
}

function zodDef(schema: unknown): ZodDef | undefined {
  const internals = (schema as { _zod?: { def?: ZodDef } } | null)?._zod;
  return internals?.def;
}

/** Wrappers that accept what their inner schema accepts. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The definition under wrappers (`.optional()`, `.default()`, a `.transform()`'s input). */
function unwrapped(schema: unknown): ZodDef | undefined {
  let def = zodDef(schema);
  for (let depth = 0; def && depth < 32; depth++) {
    if (def.type !== undefined && WRAPPERS.has(def.type)) def = zodDef(def.innerType);
    else if (def.type === 'pipe') def = zodDef(def.in);
    else return def;
  }
  return undefined;
}

/**
 * The object shape a zod schema validates, looking through wrappers
 * (`.optional()`, `.default()`, a `.transform()`'s input), and the merged
 * shapes of an intersection of objects. `undefined` when the schema is not
 * a zod object, or accepts any key (`z.looseObject`, `.catchall()`): then
 * nothing can be said about unknown keys.
 */
function zodShape(schema: unknown): Record<string, unknown> | undefined {
  const def = unwrapped(schema);
  if (def?.type === 'intersection') {
    const left = zodShape(def.left);
    const right = zodShape(def.right);
    return left && right ? { ...left, ...right } : undefined;
  }
  if (def?.type !== 'object') return undefined;
  const catchall = zodDef(def.catchall);
  // strictObject's catchall is `never`: unknown keys are refused by zod itself, but the shape still names the known ones.
  if (def.catchall !== undefined && catchall?.type !== 'never') return undefined;
  return def.shape;
}

/**
 * The option of a union that took `value`: the first that accepts it, as zod
 * picks (a discriminated union's option is the one its discriminator names,
 * and the only one to accept it). `undefined` when none does, or one cannot
 * say synchronously.
 */
function unionOption(options: readonly unknown[], value: unknown): unknown {
  for (const option of options) {
    try {
      if ((option as { safeParse?: (v: unknown) => { success: boolean } }).safeParse?.(value).success)
        return option;
    } catch {
      return undefined;
    }
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
    if (isZod) {
      walkZod(node, inValue, outValue, path);
      return;
    }
    if (!isPlainObject(inValue) || !isPlainObject(outValue)) return;
    const known = Object.keys(outValue);
    for (const key of Object.keys(inValue)) {
      if (!Object.hasOwn(outValue, key)) found.push({ path: [...path, key], known });
      else walk(undefined, inValue[key], outValue[key], [...path, key]);
    }
  };
  // Into arrays, tuples, records, unions and intersections as well as objects: a typo in a list
  // of layers or in one option of a union is as silent as one at the top.
  const walkZod = (node: unknown, inValue: unknown, outValue: unknown, path: string[]): void => {
    const def = unwrapped(node);
    if (!def) return;
    const at = (value: unknown, key: string | number) =>
      Array.isArray(value) || isPlainObject(value) ? (value as Record<string, unknown>)[key] : undefined;
    if ((def.type === 'array' || def.type === 'tuple') && Array.isArray(inValue)) {
      for (const [index, item] of inValue.entries()) {
        const element = def.type === 'array' ? def.element : def.items?.[index];
        walkZod(element, item, at(outValue, index), [...path, String(index)]);
      }
      return;
    }
    if (def.type === 'record' && isPlainObject(inValue)) {
      for (const key of Object.keys(inValue))
        walkZod(def.valueType, inValue[key], at(outValue, key), [...path, key]);
      return;
    }
    if (def.type === 'union' && Array.isArray(def.options)) {
      const option = unionOption(def.options, inValue);
      if (option !== undefined) walkZod(option, inValue, outValue, path);
      return;
    }
    if (!isPlainObject(inValue)) return;
    const shape = zodShape(node);
    if (!shape) return;
    const known = Object.keys(shape);
    for (const key of Object.keys(inValue)) {
      if (!Object.hasOwn(shape, key)) found.push({ path: [...path, key], known });
      else walkZod(shape[key], inValue[key], at(outValue, key), [...path, key]);
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
