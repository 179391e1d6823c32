/**
 * Seeded randomness for simulations and tests: the same seed gives the same
 * sequence on every machine, so a simulated error rate is reproducible.
 * Not for cryptography, and not for assignment (that is `hashing.ts`).
 */
import { assertFinite } from './validate';

/**
 * mulberry32 (Tommy Ettinger): a tiny 32-bit generator with a full 2³² period,
 * good enough for Monte Carlo checks.
 * @returns a function giving numbers in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  assertFinite(seed, 'seed');
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One standard normal draw by the Box–Muller transform, from any uniform
 * [0, 1) source — for simulating metric values under a known distribution.
 */
export function normalSample(random: () => number): number {
  if (typeof random !== 'function')
    throw new TypeError('random must be a function returning numbers in [0, 1)');
  // 1 − u lies in (0, 1], so the logarithm is finite.
  const u1 = 1 - random();
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
