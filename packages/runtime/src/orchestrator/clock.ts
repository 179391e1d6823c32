/**
 * Milliseconds from an arbitrary origin, as `performance.now()` gives them,
 * for durations. Not `performance.now()` itself: the first use of the
 * `performance` global loads perf_hooks and a dozen modules behind it,
 * about 2 ms of every process's start (a plain script that times nothing
 * never pays it).
 */
export function monotonicMs(): number {
  // Indexed, not destructured: destructuring goes through the array's iterator, garbage per call.
  const time = process.hrtime();
  return time[0] * 1e3 + time[1] / 1e6;
}
