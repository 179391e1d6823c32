/** Plain-data helpers for config layers: deep merge, path listing, safe writes. */

export type ConfigObject = Record<string, unknown>;

/** A plain object (what YAML mappings and object literals become); arrays, class instances and null are not. */
export function isPlainObject(value: unknown): value is ConfigObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Assign an own property even for `__proto__`, so that a config key can never
 * reach an object's prototype.
 */
export function setOwn(target: ConfigObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Deep copy of plain objects and arrays; anything else is shared (it is not merged into). */
export function cloneData<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneData(item)) as T;
  if (isPlainObject(value)) {
    const out: ConfigObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, cloneData(value[key]));
    return out as T;
  }
  return value;
}

/**
 * `over` merged onto `base`, neither modified: plain objects merge key by
 * key, everything else (arrays included) replaces.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return cloneData(over);
  const out = cloneData(base);
  for (const key of Object.keys(over)) {
    const current = Object.hasOwn(out, key) ? out[key] : undefined;
    setOwn(out, key, deepMerge(current, over[key]));
  }
  return out;
}

/**
 * Every key path inside a value, parents before children, as segment arrays
 * (array items by index). The root itself is not listed.
 */
export function listPaths(value: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const path = [...prefix, key];
      out.push(path);
      listPaths(value[key], path, out);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const path = [...prefix, String(index)];
      out.push(path);
      listPaths(item, path, out);
    });
  }
  return out;
}

/** The dotted form of a key path, as used in `sources` and in messages. */
export function dotted(path: ReadonlyArray<string | number>): string {
  return path.join('.');
}

/**
 * The path of the first non-finite number (YAML `.inf`, `.nan`), which JSON,
 * and so the stored config and the cache key, cannot hold.
 */
export function findNonFinite(value: unknown, path: string[] = []): string[] | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNonFinite(value[i], [...path, String(i)]);
      if (found) return found;
    }
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const found = findNonFinite(value[key], [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}
