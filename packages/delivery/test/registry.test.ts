// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, type MetadataStore, type StorageDriver } from '@cairn/core';
import { type GateDecision, gateSummaryMarkdown } from '@cairn/delivery';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { training } from './fixtures/registry';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-registry-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

let lastResult: Awaited<ReturnType<typeof runPipeline>>;
const reasons = new Map<string, string>();
async function runWith(quality: number) {
  reasons.clear();
  const result = await runPipeline(training, {
    onEvent: (e) => {
      if (e.type === 'step.started') reasons.set(e.step, e.reason);
      if (e.type === 'step.cached') reasons.set(e.step, 'cached');
    },
    storage,
    metadata,
    projectDir: dir,
    configs: {
      train: { quality },
      register: { model: 'toy' },
      gate: { metric: 'macro_f1', minImprovement: 0.01, allowedRegression: 0.05 },
    },
  });
  expect(result.status).toBe('succeeded');
  lastResult = result;
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.get(result.steps.gate!.outputs.decision!.digest))
    chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString()) as GateDecision;
}

describe('register and gate steps', () => {
  it('promotes the first model, refuses a worse one, promotes a better one and archives the old', async () => {
    const first = await runWith(0.9);
    expect(first).toMatchObject({ decision: 'promoted', stage: 'production', candidate: { version: 1 } });
    expect((await metadata.getModelByStage('toy', 'production'))?.version).toBe(1);

    const slightlyWorse = await runWith(0.88);
    expect(slightlyWorse).toMatchObject({ decision: 'kept', failsCi: false, production: { version: 1 } });
    expect(slightlyWorse.improvement).toBeCloseTo(-0.02);
    const muchWorse = await runWith(0.7);
    expect(muchWorse).toMatchObject({ decision: 'kept', failsCi: true });
    expect(muchWorse.reason).toMatch(/worse than production by more than the allowed 0.0500/);
    const tooSmall = await runWith(0.905);
    expect(tooSmall).toMatchObject({ decision: 'kept', failsCi: false });
    expect((await metadata.getModelByStage('toy', 'production'))?.version).toBe(1);

    const better = await runWith(0.95);
    expect(better).toMatchObject({ decision: 'promoted', stage: 'production', candidate: { version: 5 } });
    expect((await metadata.getModelByStage('toy', 'production'))?.version).toBe(5);
    expect((await metadata.getModelVersion('toy', 1))?.stage).toBe('archived');
    const history = await metadata.modelHistory('toy');
    expect(history.filter((t) => t.accepted && t.to === 'production').map((t) => t.version)).toEqual([1, 5]);
    expect(history.find((t) => t.version === 5)?.reason).toMatch(/macro_f1 0.9500 vs production v1 0.9000/);

    // Nothing changed: every step is reused, the decision too (its effect still stands).
    const again = await runWith(0.95);
    expect(lastResult.counts).toMatchObject({ executed: 0, cached: 3 });
    expect(again).toEqual(better);

    // The registry moved on since the 0.88 candidate was kept out: its cached decision
    // (compared with v1) is not reused; the gate runs again against v5.
    const revisited = await runWith(0.88);
    expect(Object.fromEntries(reasons)).toEqual({
      train: 'cached',
      register: 'cached',
      gate: 'state-changed',
    });
    expect(revisited).toMatchObject({
      decision: 'kept',
      candidate: { version: 2 },
      production: { version: 5 },
    });

    // Archive the production model by hand: the 0.95 decision ("promoted") no longer stands. The
    // gate runs again, and leaves the archived version out, though no version is in production now
    // (it is not a first model again: only `cairn registry promote` brings it back).
    await metadata.transitionStage({ model: 'toy', version: 5, to: 'archived', reason: 'rollback test' });
    const afterRollback = await runWith(0.95);
    expect(reasons.get('gate')).toBe('state-changed');
    expect(afterRollback).toMatchObject({ decision: 'kept', candidate: { version: 5 }, stage: 'archived' });
    expect(afterRollback.reason).toMatch(
      /v5 was archived \(rollback test\); the gate does not bring it back/,
    );
    expect(await metadata.getModelByStage('toy', 'production')).toBeUndefined();
    expect(gateSummaryMarkdown(better, { accuracy: 0.95 })).toMatch(
      /promoted to production[\s\S]*\| accuracy \| 0.9500 \|/,
    );
  });

  it('refuses a gate config without a metric before anything runs', async () => {
    await expect(
      runPipeline(training, {
        storage,
        metadata,
        projectDir: dir,
        configs: { train: { quality: 1 }, register: { model: 'toy' }, gate: {} },
      }),
    ).rejects.toMatchObject({
      code: 'CAIRN_CONFIG_INVALID',
      message: expect.stringMatching(/gate[\s\S]*metric/),
    });
    expect(await metadata.listRuns()).toEqual([]);
  });

  it('runs registry steps next to the metadata store even with a worker pool', async () => {
    const { workerPool } = await import('@cairn/runtime');
    const result = await runPipeline(training, {
      storage,
      metadata,
      projectDir: dir,
      executor: workerPool({ size: 1 }),
      configs: { train: { quality: 0.5 }, register: { model: 'pooled' }, gate: { metric: 'accuracy' } },
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect((await metadata.getModelByStage('pooled', 'production'))?.version).toBe(1);
  });
});

it('json() handles carry their type through a registration', () => {
  expect(json().name).toBe('json');
});

describe('register step and secrets', () => {
  it('a description built from an ${env:…} reference is stored with the reference, not the value', async () => {
    const secret = 'tok-5eCr3t-99887766';
    const result = await runPipeline(training, {
      storage,
      metadata,
      projectDir: dir,
      environment: { DATA_TOKEN: secret },
      configs: {
        train: { quality: 0.9 },
        register: { model: 'toy', description: 'trained on https://data/?token=${env:DATA_TOKEN}' },
        gate: { metric: 'macro_f1' },
      },
    });
    expect(result.status).toBe('succeeded');
    const version = await metadata.getModelVersion('toy', 1);
    expect(version?.description).toBe('trained on https://data/?token=${env:DATA_TOKEN}');
    expect(JSON.stringify(await metadata.listModelVersions('toy'))).not.toContain(secret);
  });
});
