import { createHook } from 'node:async_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Handle, json, pipeline, type RunCounts, step } from '@cairn/core';
import { localStore, type RunOptions, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-promises-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const first = step({
  name: 'first',
  outputs: { out: json<number>() },
  run: () => ({ out: 1 }),
});
const next = step({
  name: 'next',
  inputs: { in: json<number>() },
  outputs: { out: json<number>() },
  run: ({ inputs }) => ({ out: inputs.in + 1 }),
});

const STEPS = 200;
const chain = pipeline('chain', () => {
  let previous: Handle<number, 'json'> = first(undefined, { as: 's0' }).out;
  for (let i = 1; i < STEPS; i++) previous = next({ in: previous }, { as: `s${i}` }).out;
});

/** The run's counts, and how many promises were made while it ran. */
async function counted(options: RunOptions): Promise<{ counts: RunCounts; promises: number }> {
  let promises = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
  });
  hook.enable();
  try {
    const { counts } = await runPipeline(chain, options);
    return { counts, promises };
  } finally {
    hook.disable();
  }
}

/**
 * A step is decided and run in the interpreter, not in optimized code, until its functions have run
 * often enough (a 1,000-step run is mostly over by then), and there each async function, await and
 * then() costs a promise and microtasks (~1.5 µs). A cached step made 43 promises (in the runtime
 * and the SQLite store), an executed one 85: a 1,000-step no-op spent ~25 ms on them, a cold run
 * ~0.1 s. Counted, not timed: the count does not depend on the machine.
 */
it('a step costs a bounded number of promises in the runtime, executed or cached', async () => {
  const options = {
    storage: localStore(join(dir, 'artifacts')),
    metadata: memoryMetadata(),
    projectDir: dir,
  };
  const cold = await counted(options);
  expect(cold.counts.executed).toBe(STEPS);
  const rerun = await counted(options);
  expect(rerun.counts.cached).toBe(STEPS);
  // The memory store's own (async) calls are counted too: here ~52 per executed step (79 before
  // the local store and the executed path lost their needless hops) and ~12 per cached one (41).
  expect(cold.promises / STEPS).toBeLessThan(60);
  expect(rerun.promises / STEPS).toBeLessThan(14);
});
