import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, isDigest, sha256 } from './hash';

describe('canonicalJson', () => {
  it('sorts keys at every level and refuses non-JSON values', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/not representable/);
    expect(() => canonicalJson({ d: new Map() })).toThrow(/not plain JSON/);
  });
  it('orders keys as Array#sort does, for small and large objects alike', () => {
    for (const keys of [
      ['b', 'a', '10', '9', 'B', 'é', 'e', '', '_'],
      Array.from({ length: 40 }, (_, i) => `k${(i * 7919) % 40}`),
    ]) {
      const value = Object.fromEntries(keys.map((key) => [key, 1]));
      // What a copy sorted by Array#sort serializes to (integer-like keys still come first in JSON).
      expect(canonicalJson(value)).toBe(
        JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))),
      );
    }
  });
  it('sha256 gives the hex digest createHash gives, of strings (as UTF-8) and bytes', () => {
    for (const data of [
      '',
      'abc',
      'héllo ✓',
      new Uint8Array([0, 1, 255]),
      new TextEncoder().encode('x'.repeat(1e5)),
    ]) {
      expect(sha256(data)).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
  it('isDigest accepts only 64 lowercase hex characters', () => {
    expect(isDigest('a'.repeat(64))).toBe(true);
    expect(isDigest('A'.repeat(64))).toBe(false);
    expect(isDigest('../../etc/passwd')).toBe(false);
  });
});
