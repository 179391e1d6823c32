import * as crypto from 'node:crypto';
import { CairnError, ErrorCodes } from './errors';

const DIGEST = /^[0-9a-f]{64}$/;

/** True for a sha256 digest as Cairn writes it: 64 lowercase hex characters. */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/**
 * Refuse anything that is not a digest before it reaches a path or a key:
 * this is what keeps `../../etc/passwd` out of the store.
 */
export function assertDigest(value: unknown, what = 'artifact digest'): asserts value is string {
  if (!isDigest(value)) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_KEY_INVALID,
      `Invalid ${what} ${JSON.stringify(value)}: expected 64 lowercase hex characters (a sha256 digest)`,
    );
  }
}

// One-shot crypto.hash (Node >= 20.12) is about twice as fast as createHash on small inputs.
const hash = (crypto as { hash?: (algorithm: string, data: string | Uint8Array) => string }).hash;

export function sha256(data: string | Uint8Array): string {
  return hash ? hash('sha256', data) : crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * JSON with object keys sorted at every level and no whitespace, so equal
 * values always give equal bytes (and equal digests and cache keys).
 * `undefined` members are dropped as JSON.stringify does; non-finite numbers
 * and other non-JSON values are refused rather than silently changed.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value, '$'));
}

function canonicalize(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `${path}: ${value} is not representable in JSON`,
      );
    }
    return value;
  }
  if (Array.isArray(value))
    return value.map((item, i) => (item === undefined ? null : canonicalize(item, `${path}[${i}]`)));
  if (typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      return canonicalize((value as { toJSON(): unknown }).toJSON(), path);
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `${path}: ${proto?.constructor?.name ?? 'object'} is not plain JSON data`,
      );
    }
    const out: Record<string, unknown> = {};
    for (const key of sortedKeys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = canonicalize(item, `${path}.${key}`);
    }
    return out;
  }
  if (value === undefined) return null;
  throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `${path}: a ${typeof value} is not JSON data`);
}

/** Keys in code-unit order, as Array#sort orders them; a small object's in place (Array#sort copies). */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}
