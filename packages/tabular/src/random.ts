import { mulberry32 } from '@cairn/stats';

/**
 * A seeded pseudo-random generator (mulberry32, from @cairn/stats): the same
 * seed always gives the same sequence, on every machine, so splits and
 * shuffles are reproducible. Not for cryptography.
 * @returns a function giving numbers in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
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
