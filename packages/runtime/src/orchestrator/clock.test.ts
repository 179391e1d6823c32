import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { monotonicMs } from './clock';

describe('monotonicMs', () => {
  it('counts the milliseconds performance.now() counts, from its own origin', () => {
    // Each reading of monotonicMs between two of performance.now(): however long the process is
    // paused between calls, the interval between two readings lies between those of the brackets.
    // No time bound: some work between the pairs, so that the interval is far above the clocks'
    // rounding and a reading in another unit falls outside the brackets.
    const p1 = performance.now();
    const m1 = monotonicMs();
    const p2 = performance.now();
    let digest = '';
    for (let i = 0; i < 2_000; i++) digest = createHash('sha256').update(digest).digest('hex');
    const p3 = performance.now();
    const m2 = monotonicMs();
    const p4 = performance.now();
    const slack = 0.001; // the two clocks' rounding
    expect(m2 - m1).toBeGreaterThanOrEqual(p3 - p2 - slack);
    expect(m2 - m1).toBeLessThanOrEqual(p4 - p1 + slack);
  });

  it('never goes back', () => {
    let last = monotonicMs();
    for (let i = 0; i < 10_000; i++) {
      const now = monotonicMs();
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
  });
});
