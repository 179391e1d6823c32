import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, type MetadataStore, pipeline, type StorageDriver, step } from '@cairn/core';
import { createRun, execRunStep, localStore } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-exec-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A one-step pipeline whose step fails until its `succeedAt`-th call; `calls` counts them. */
function flaky(succeedAt: number) {
  const counter = { calls: 0 };
  const only = step({
    name: 'flaky',
    outputs: { n: json<number>() },
    retries: { attempts: 2, backoffMs: 1 },
    cache: false,
    run: () => {
      counter.calls++;
      if (counter.calls < succeedAt) throw new Error(`attempt ${counter.calls} failed`);
      return { n: counter.calls };
    },
  });
  return { counter, pipeline: pipeline('flaky', () => void only()) };
}

describe('execRunStep', () => {
  it("makes the step's retries itself, or one attempt with singleAttempt", async () => {
    const own = flaky(100);
    const options = { storage, metadata, projectDir: dir };
    const first = await createRun(own.pipeline, options);
    const retried = await execRunStep(own.pipeline, first.runId, 'flaky', options);
    expect(retried.outcome.status).toBe('failed');
    expect(own.counter.calls).toBe(3);

    const engine = flaky(100);
    const second = await createRun(engine.pipeline, options);
    const once = await execRunStep(engine.pipeline, second.runId, 'flaky', {
      ...options,
      singleAttempt: true,
    });
    expect(once.outcome).toMatchObject({ status: 'failed', attempts: 1 });
    expect(engine.counter.calls).toBe(1);
  });

  it('says an upstream step failed, not that it has not finished, and that its downstream is refused', async () => {
    const failing = step({
      name: 'failing',
      outputs: { n: json<number>() },
      cache: false,
      run: () => {
        throw new Error('the source is down');
      },
    });
    const after = step({
      name: 'after',
      inputs: { n: json<number>() },
      outputs: { m: json<number>() },
      run: ({ inputs }) => ({ m: inputs.n + 1 }),
    });
    const chained = pipeline('chained', () => void after({ n: failing().n }));
    const options = { storage, metadata, projectDir: dir, singleAttempt: true };
    const { runId } = await createRun(chained, options);
    await expect(execRunStep(chained, runId, 'after', options)).rejects.toThrow(
      /needs "failing", which has not finished in run/,
    );
    expect((await execRunStep(chained, runId, 'failing', options)).outcome.status).toBe('failed');
    await expect(execRunStep(chained, runId, 'after', options)).rejects.toMatchObject({
      code: 'CAIRN_METADATA_NOT_FOUND',
      message: expect.stringMatching(/needs "failing", which failed in run .*: .*the source is down/),
    });
  });

  it('clears the error of a run whose failed step later succeeds', async () => {
    const { pipeline: flakyPipeline } = flaky(2);
    const options = { storage, metadata, projectDir: dir, singleAttempt: true };
    const { runId } = await createRun(flakyPipeline, options);
    expect((await execRunStep(flakyPipeline, runId, 'flaky', options)).runStatus).toBe('failed');
    expect((await metadata.getRun(runId))?.error).toMatch(/attempt 1 failed/);
    expect((await execRunStep(flakyPipeline, runId, 'flaky', options)).runStatus).toBe('succeeded');
    const run = await metadata.getRun(runId);
    expect(run?.status).toBe('succeeded');
    expect(run?.error || undefined).toBeUndefined();
  });
});
