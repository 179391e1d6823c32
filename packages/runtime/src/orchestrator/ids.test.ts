import { describe, expect, it } from 'vitest';
import { newId } from './ids';

describe('newId', () => {
  it('sorts in creation order within one process, even within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('r'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toMatch(/^r_[0-9a-z]{21}$/);
  });
});
