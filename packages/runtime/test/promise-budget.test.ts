import { createHook } from 'node:async_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Handle, json, pipeline, step } from '@cairn/core';
import { localStore, runPipeline } from '@cairn/runtime';
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

/**
 * A cached step of a rerun is decided in the interpreter, not in optimized code, until its
 * functions have run often enough (a 1,000-step rerun is mostly over by then), and there each
 * async function, await and then() costs a promise and microtasks: 43 promises per cached step
 * (in the runtime and the SQLite store) against 10 now cost a 1,000-step no-op ~25 ms. Counted, not
 * timed: the count does not depend on the machine.
 */
it('a cached step of a rerun costs a handful of promises in the runtime, not dozens', async () => {
  const options = {
    storage: localStore(join(dir, 'artifacts')),
    metadata: memoryMetadata(),
    projectDir: dir,
  };
  expect((await runPipeline(chain, options)).counts.executed).toBe(STEPS);
  let promises = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
  });
  hook.enable();
  let cached: number;
  try {
    cached = (await runPipeline(chain, options)).counts.cached;
  } finally {
    hook.disable();
  }
  expect(cached).toBe(STEPS);
  // The memory store's own (async) lookup and record are counted too: ~12 per step here, 41 before.
  expect(promises / STEPS).toBeLessThan(14);
});
