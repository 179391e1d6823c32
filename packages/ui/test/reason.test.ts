import type { ExecutionRecord } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { reasonFor } from '../src/data';

const execution = (patch: Partial<ExecutionRecord>): ExecutionRecord => ({
  id: 'e_2',
  runId: 'r_2',
  step: 'train',
  status: 'succeeded',
  cacheKey: 'k2',
  cacheable: true,
  inputs: {},
  outputs: {},
  configDigest: 'a'.repeat(64),
  startedAt: '2026-01-01T00:00:00.000Z',
  attempts: 1,
  ...patch,
});

describe('reasonFor', () => {
  const previous = execution({ id: 'e_1', runId: 'r_1', cacheKey: 'k1' });
  it('shows the reason the orchestrator recorded, in its words', () => {
    expect(reasonFor(execution({ reason: 'code-changed: src/classifier.ts' }), previous)).toBe(
      'code-changed: src/classifier.ts',
    );
  });
  it('re-derives it for executions recorded without one', () => {
    expect(reasonFor(execution({ configDigest: 'b'.repeat(64) }), previous)).toBe('config-changed');
    expect(reasonFor(execution({}), previous)).toBe('code-changed');
    expect(reasonFor(execution({}), undefined)).toBe('new');
  });
});
