import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CairnEvent, ErrorCodes, type MetadataStore, type StorageDriver } from '@cairn/core';
import { localStore, planPipeline, type RunOptions, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { numbers } from './fixtures/steps';

// numbers: source → power → total, and an independent step "other".
let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-slice-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(extra: Partial<RunOptions> = {}): RunOptions & { events: CairnEvent[] } {
  const events: CairnEvent[] = [];
  return { storage, metadata, projectDir: dir, onEvent: (e) => events.push(e), events, ...extra };
}
const stepsOf = (events: CairnEvent[], type: CairnEvent['type']) =>
  events
    .filter((e) => e.type === type)
    .map((e) => (e as { step: string }).step)
    .sort();

describe('a slice of a pipeline (from, only)', () => {
  it('--from runs the step and its descendants, reading upstream from the cache and leaving the rest alone', async () => {
    await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const sliced = options({ configs: { source: { n: 3 }, power: { exponent: 3 } }, from: 'power' });
    const result = await runPipeline(numbers, sliced);
    expect(result.status).toBe('succeeded');
    expect(stepsOf(sliced.events, 'step.succeeded')).toEqual(['power', 'total']);
    expect(stepsOf(sliced.events, 'step.cached')).toEqual(['source']);
    expect(Object.keys(result.steps).sort()).toEqual(['power', 'source', 'total']);
    expect(result.counts).toEqual({ executed: 2, cached: 1, failed: 0, skipped: 0 });
    expect(sliced.events[0]).toMatchObject({ type: 'run.started', steps: ['source', 'power', 'total'] });
    const [run] = await metadata.listRuns({ limit: 1 });
    expect(run!.tags).toEqual({ slice: 'from power' });
    // 1 + 2 + 3 cubed: the slice ran on the cached numbers with its own config.
    const executions = await metadata.listExecutions(run!.id);
    expect(executions.map((e) => e.step).sort()).toEqual(['power', 'source', 'total']);
  });

  it('--only runs exactly the named steps, even with downstream steps left stale', async () => {
    await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const sliced = options({ configs: { source: { n: 3 }, power: { exponent: 4 } }, only: ['power'] });
    const result = await runPipeline(numbers, sliced);
    expect(stepsOf(sliced.events, 'step.succeeded')).toEqual(['power']);
    expect(Object.keys(result.steps).sort()).toEqual(['power', 'source']);
    const plan = await planPipeline(numbers, {
      storage,
      metadata,
      projectDir: dir,
      configs: { source: { n: 3 }, power: { exponent: 4 } },
      only: ['total', 'other'],
    });
    expect(plan.slice).toBe('only total,other');
    expect(Object.fromEntries(plan.steps.map((s) => [s.step, s.action]))).toEqual({
      source: 'cached',
      power: 'cached',
      total: 'run',
      other: 'cached',
    });
    // Upstream steps come first: they are read, not planned.
    expect(plan.steps.slice(0, 2).map((s) => s.step)).toEqual(['source', 'power']);
  });

  it('refuses, naming the step and recording nothing, when an upstream result is not cached', async () => {
    await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const before = (await metadata.listRuns()).length;
    // source's config changed: its result for n=4 was never computed.
    const changed = options({ configs: { source: { n: 4 } }, from: 'power' });
    const error = await runPipeline(numbers, changed).catch((e) => e);
    expect(error).toMatchObject({ code: ErrorCodes.UPSTREAM_NOT_CACHED, context: { step: 'source' } });
    expect(error.message).toMatch(/Step "source" is upstream of the slice \(from power\).*config-changed/);
    expect(changed.events).toEqual([]);
    expect((await metadata.listRuns()).length).toBe(before);
    await expect(
      planPipeline(numbers, {
        storage,
        metadata,
        projectDir: dir,
        configs: { source: { n: 4 } },
        only: ['total'],
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.UPSTREAM_NOT_CACHED, context: { step: 'source' } });
  });

  it('refuses an upstream result whose artifact is gone from storage', async () => {
    const first = await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    await storage.delete(first.steps.power!.outputs.powered!.digest);
    const error = await runPipeline(
      numbers,
      options({ configs: { source: { n: 3 } }, only: ['total'] }),
    ).catch((e) => e);
    expect(error).toMatchObject({ code: ErrorCodes.UPSTREAM_NOT_CACHED, context: { step: 'power' } });
    expect(error.message).toMatch(/missing-artifact/);
  });

  it('refuses bad slices as usage errors before anything is recorded', async () => {
    const refuse = (extra: Partial<RunOptions>) =>
      runPipeline(numbers, options({ configs: { source: { n: 3 } }, ...extra })).catch((e) => e);
    const unknown = await refuse({ from: 'powr' });
    expect(unknown).toMatchObject({ code: ErrorCodes.USAGE });
    expect(unknown.message).toMatch(/--from names "powr", not a step of pipeline "numbers"/);
    expect(await refuse({ from: 'power', only: ['total'] })).toMatchObject({ code: ErrorCodes.USAGE });
    const forced = await refuse({ only: ['total'], force: ['source'] });
    expect(forced.message).toMatch(/--force names "source", outside the slice/);
    expect(await metadata.listRuns()).toEqual([]);
  });
});
