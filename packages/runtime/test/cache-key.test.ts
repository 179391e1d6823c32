/**
 * The cache key is written out by hand for speed; it must stay byte for byte
 * the canonical JSON it always was, or every cache entry of every project
 * would miss after an upgrade.
 */
import { type ArtifactRef, canonicalJson, sha256 } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { keyOf } from '../src/orchestrator/cache';

const ref = (digest: string): ArtifactRef => ({ digest, type: 'json', size: 1 });

describe('keyOf', () => {
  it('is the sha256 of the canonical JSON of step, code, config and input digests', () => {
    const d = (c: string) => c.repeat(64);
    const cases: Array<[string, string, string | undefined, Record<string, ArtifactRef>]> = [
      ['train', d('a'), d('b'), { train: ref(d('c')), test: ref(d('d')) }],
      ['ingest', d('a'), undefined, {}],
      ['s1_0', d('e'), d('f'), { b: ref(d('1')), a: ref(d('2')), '10': ref(d('3')), '9': ref(d('4')) }],
      ['quote"d\\step', 'x', 'y', { é: ref(d('5')), Z: ref(d('6')) }],
    ];
    for (const [step, code, config, inputs] of cases) {
      const digests = Object.fromEntries(Object.entries(inputs).map(([name, r]) => [name, r.digest]));
      expect(keyOf(step, code, config, inputs)).toBe(
        sha256(canonicalJson({ step, code, config, inputs: digests })),
      );
    }
  });
});
