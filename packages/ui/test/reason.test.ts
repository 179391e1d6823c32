/**
 * Why a step ran: the execution's own `reason` when the store recorded one,
 * else derived from the previous execution with the orchestrator's rule.
 */
import type { ExecutionRecord } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { reasonFor, recordedReason } from '../src/data';

const execution = (extra: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
  id: 'e_0001aaaa',
  runId: 'r_0001aaaa',
  step: 'train',
  status: 'succeeded',
  cacheKey: 'k2',
  cacheable: true,
  inputs: { data: { digest: 'a'.repeat(64), type: 'json', size: 1 } },
  outputs: {},
  configDigest: 'c'.repeat(64),
  startedAt: '2026-01-01T00:00:00.000Z',
  attempts: 1,
  ...extra,
});

describe('reasonFor', () => {
  it("prefers the execution's recorded reason, with its detail, over deriving one", () => {
    const previous = execution({ id: 'e_0000aaaa', configDigest: 'd'.repeat(64), cacheKey: 'k1' });
    expect(reasonFor(execution(), previous)).toBe('config-changed');
    const recorded = { ...execution(), reason: 'code-changed: steps/train.ts' } as ExecutionRecord;
    expect(reasonFor(recorded, previous)).toBe('code-changed: steps/train.ts');
    expect(recordedReason(recorded)).toBe('code-changed: steps/train.ts');
  });

  it('ignores a reason that is not a non-empty string', () => {
    const previous = execution({
      id: 'e_0000aaaa',
      inputs: { data: { digest: 'b'.repeat(64), type: 'json', size: 1 } },
    });
    for (const reason of [undefined, '', '  ', 42, { why: 'x' }]) {
      const odd = { ...execution(), reason } as unknown as ExecutionRecord;
      expect(recordedReason(odd)).toBeUndefined();
      expect(reasonFor(odd, previous)).toBe('input-changed');
    }
  });
});
