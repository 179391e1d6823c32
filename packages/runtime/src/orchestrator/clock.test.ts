import { afterEach, describe, expect, it, vi } from 'vitest';
import { monotonicMs } from './clock';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('monotonicMs', () => {
  it('turns process.hrtime() seconds and nanoseconds into milliseconds', () => {
    // Fixed readings, no clock: the unit is what is tested, not how long anything took.
    const hrtime = vi.spyOn(process, 'hrtime');
    hrtime.mockReturnValueOnce([12, 345_678_901]);
    expect(monotonicMs()).toBeCloseTo(12_345.678901, 9);
    hrtime.mockReturnValueOnce([0, 999_999]);
    expect(monotonicMs()).toBeCloseTo(0.999999, 9);
    hrtime.mockReturnValueOnce([1_000_000, 0]);
    expect(monotonicMs()).toBe(1_000_000_000);
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
