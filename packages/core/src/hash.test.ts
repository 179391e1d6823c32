import { describe, expect, it } from 'vitest';
import { canonicalJson, isDigest } from './hash';

describe('canonicalJson', () => {
  it('sorts keys at every level and refuses non-JSON values', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/not representable/);
    expect(() => canonicalJson({ d: new Map() })).toThrow(/not plain JSON/);
  });
  it('isDigest accepts only 64 lowercase hex characters', () => {
    expect(isDigest('a'.repeat(64))).toBe(true);
    expect(isDigest('A'.repeat(64))).toBe(false);
    expect(isDigest('../../etc/passwd')).toBe(false);
  });
});
