/**
 * A seeded pseudo-random generator (mulberry32): the same seed always gives
 * the same sequence, on every machine, so splits and shuffles are
 * reproducible. Not for cryptography.
 * @returns a function giving numbers in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A shuffled copy (Fisher–Yates) of `items`, deterministic for a seed. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  shuffleInPlace(out, seededRandom(seed));
  return out;
}

/** @internal */
export function shuffleInPlace<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
}
