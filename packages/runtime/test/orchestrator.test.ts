import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CairnEvent,
  canonicalJson,
  commandStep,
  ErrorCodes,
  json,
  type MetadataStore,
  metrics,
  pipeline,
  type StorageDriver,
  sha256,
  step,
} from '@cairn/core';
import {
  inProcess,
  localStore,
  planPipeline,
  type RunOptions,
  runPipeline,
  workerPool,
} from '@cairn/runtime';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { STEP_CLEANUP_MS } from '../src/runner';
import { busyPair, waiting, whereFolders } from './fixtures/slow';
import { numbers } from './fixtures/steps';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-orch-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(extra: Partial<RunOptions> = {}): RunOptions & { events: CairnEvent[] } {
  const events: CairnEvent[] = [];
  return {
    storage,
    metadata,
    projectDir: dir,
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  } as RunOptions & {
    events: CairnEvent[];
  };
}

const executed = (events: CairnEvent[]) =>
  events
    .filter((e) => e.type === 'step.succeeded')
    .map((e) => (e as { step: string }).step)
    .sort();
const cached = (events: CairnEvent[]) =>
  events
    .filter((e) => e.type === 'step.cached')
    .map((e) => (e as { step: string }).step)
    .sort();

describe('runPipeline', () => {
  it('runs, then reuses everything, then re-executes exactly the changed step and its descendants', async () => {
    const first = options({ configs: { source: { n: 3 } } });
    const result = await runPipeline(numbers, first);
    expect(result.status).toBe('succeeded');
    expect(executed(first.events)).toEqual(['other', 'power', 'source', 'total']);
    expect(result.counts).toEqual({ executed: 4, cached: 0, failed: 0, skipped: 0 });

    const second = options({ configs: { source: { n: 3 } } });
    const again = await runPipeline(numbers, second);
    expect(executed(second.events)).toEqual([]);
    expect(cached(second.events)).toEqual(['other', 'power', 'source', 'total']);
    expect(again.steps.total!.outputs.metrics!.digest).toBe(result.steps.total!.outputs.metrics!.digest);

    const third = options({ configs: { source: { n: 3 }, power: { exponent: 3 } } });
    await runPipeline(numbers, third);
    expect(executed(third.events)).toEqual(['power', 'total']);
    expect(cached(third.events)).toEqual(['other', 'source']);
    const started = third.events.find((e) => e.type === 'step.started' && e.step === 'power');
    expect(started).toMatchObject({ reason: 'config-changed' });
    const startedTotal = third.events.find((e) => e.type === 'step.started' && e.step === 'total');
    expect(startedTotal).toMatchObject({ reason: 'input-changed' });
  });

  /** The test's metadata store, counting the runs it lists and the runs whose executions it lists. */
  function countingStore() {
    const counts = { listed: 0, reads: 0 };
    const store: MetadataStore = {
      ...metadata,
      listRuns: async (query) => {
        const runs = await metadata.listRuns(query);
        counts.listed += runs.length;
        return runs;
      },
      listExecutions: (runId) => {
        counts.reads++;
        return metadata.listExecutions(runId);
      },
    };
    return { store, counts };
  }

  it("reads earlier runs' executions only when a step runs (to say why), never on a fully cached rerun", async () => {
    const { store: counting, counts } = countingStore();
    await runPipeline(numbers, options({ metadata: counting, configs: { source: { n: 3 } } }));
    counts.reads = 0;
    const cachedRun = options({ metadata: counting, configs: { source: { n: 3 } } });
    await runPipeline(numbers, cachedRun);
    expect(cached(cachedRun.events)).toEqual(['other', 'power', 'source', 'total']);
    expect(counts.reads).toBe(0);
    const changed = options({ metadata: counting, configs: { source: { n: 3 }, power: { exponent: 3 } } });
    await runPipeline(numbers, changed);
    expect(counts.reads).toBeGreaterThan(0);
    expect(changed.events.find((e) => e.type === 'step.started' && e.step === 'power')).toMatchObject({
      reason: 'config-changed',
    });
  });

  it('to say why a step runs, lists earlier runs two at a time: the run before when it has every step, further back when not', async () => {
    const { store: counting, counts } = countingStore();
    const configs = { source: { n: 3 } };
    /** Run with power's exponent changed: power says why, from its last execution; what it listed to say so. */
    const changePower = async (exponent: number) => {
      Object.assign(counts, { listed: 0, reads: 0 });
      const changed = options({ metadata: counting, configs: { ...configs, power: { exponent } } });
      await runPipeline(numbers, changed);
      expect(changed.events.find((e) => e.type === 'step.started' && e.step === 'power')).toMatchObject({
        reason: 'config-changed',
      });
      return { ...counts };
    };
    for (let i = 0; i < 4; i++) await runPipeline(numbers, options({ metadata: counting, configs }));
    // This run and the one before it, whose executions answer for every step; not the three before those.
    expect(await changePower(3)).toEqual({ listed: 2, reads: 1 });

    // Two runs of one step only: power's last execution is three runs back, on the second page.
    for (let i = 0; i < 2; i++)
      await runPipeline(numbers, options({ metadata: counting, configs, only: ['other'] }));
    expect(await changePower(4)).toEqual({ listed: 4, reads: 3 });
  });

  it('a run whose event listener throws fails with that error and is recorded failed, not left running', async () => {
    let seen = 0;
    const throwing = options({
      configs: { source: { n: 3 } },
      onEvent: () => {
        if (++seen === 3) throw new Error('listener broke');
      },
    });
    await expect(runPipeline(numbers, throwing)).rejects.toThrow('listener broke');
    const [run] = await metadata.listRuns({});
    expect(run).toMatchObject({ status: 'failed', error: 'the run stopped: listener broke' });
    expect(run!.finishedAt).toBeDefined();
    // What it recorded before the listener threw is reused.
    const again = await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    expect(again.status).toBe('succeeded');
  });

  it('reads step configs from conf/base and conf/<env> files and records the stored config', async () => {
    await mkdir(join(dir, 'conf', 'base'), { recursive: true });
    await mkdir(join(dir, 'conf', 'ci'), { recursive: true });
    await writeFile(join(dir, 'conf', 'base', 'source.yaml'), 'n: 2\n');
    await writeFile(join(dir, 'conf', 'ci', 'source.yaml'), 'n: 5\n');
    const local = await runPipeline(numbers, options());
    const ci = await runPipeline(numbers, options({ env: 'ci' }));
    expect(local.steps.total!.outputs.metrics).toBeDefined();
    const sum = async (digest: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.get(digest)) chunks.push(Buffer.from(chunk));
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    };
    expect((await sum(local.steps.total!.outputs.metrics!.digest)).sum).toBe(1 + 4);
    expect((await sum(ci.steps.total!.outputs.metrics!.digest)).sum).toBe(1 + 4 + 9 + 16 + 25);
    const run = await metadata.getRun(ci.runId);
    expect(run?.env).toBe('ci');
    // every step's stored config is in the run's config bundle; each step's digest names it
    const bundle = await sum(run!.configBundle!);
    expect(bundle.source).toEqual({ n: 5 });
    expect(Object.keys(bundle).sort()).toEqual(['other', 'power', 'source', 'total']);
    expect(run!.configs.source).toBe(sha256(canonicalJson({ n: 5 })));
  });

  it('refuses an invalid config before anything runs or is recorded', async () => {
    const run = options({ configs: { source: { n: 'three' } } });
    await expect(runPipeline(numbers, run)).rejects.toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
    expect(run.events).toEqual([]);
    expect(await metadata.listRuns()).toEqual([]);
  });

  /** Run `numbers` once, then flip the first byte of power's stored output in place. */
  const runAndCorruptPowered = async () => {
    const first = await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const digest = first.steps.power!.outputs.powered!.digest;
    const path = join(dir, 'artifacts', 'objects', digest.slice(0, 2), digest.slice(2));
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 0xff;
    await chmod(path, 0o644);
    await writeFile(path, bytes);
    return { digest, path };
  };

  it('detects a corrupted artifact and re-runs its producer instead of using it', async () => {
    const { digest } = await runAndCorruptPowered();
    expect(await storage.verify(digest)).toBe('corrupt');

    // Reported as corrupt, naming the output and its digest: not as a deleted object.
    const plan = await planPipeline(numbers, {
      storage,
      metadata,
      projectDir: dir,
      configs: { source: { n: 3 } },
    });
    expect(plan.steps.find((s) => s.step === 'power')).toMatchObject({
      action: 'run',
      reason: 'corrupt',
      detail: `output powered ${digest}`,
    });
    const second = options({ configs: { source: { n: 3 } } });
    const result = await runPipeline(numbers, second);
    expect(result.status).toBe('succeeded');
    expect(executed(second.events)).toEqual(['power']);
    expect(second.events.find((e) => e.type === 'step.started')).toMatchObject({
      step: 'power',
      reason: 'corrupt',
      detail: `output powered ${digest}`,
    });
    expect(await storage.verify(digest)).toBe('ok');
    expect(result.steps.power!.outputs.powered!.digest).toBe(digest);
  });

  it('checks cached outputs by their stamp: a rerun hashes none unless a file changed, or verifyOutputs is full', async () => {
    let hashed = 0;
    const counting: StorageDriver = {
      ...storage,
      verify: (digest) => {
        hashed++;
        return storage.verify(digest);
      },
    };
    const first = await runPipeline(numbers, options({ storage: counting, configs: { source: { n: 3 } } }));
    hashed = 0;
    const again = options({ storage: counting, configs: { source: { n: 3 } } });
    await runPipeline(numbers, again);
    expect(cached(again.events)).toEqual(['other', 'power', 'source', 'total']);
    expect(hashed).toBe(0);
    await runPipeline(
      numbers,
      options({ storage: counting, configs: { source: { n: 3 } }, verifyOutputs: 'full' }),
    );
    expect(hashed).toBe(4);

    // Corrupted in place with its size kept and its mtime set back: the ctime still moved.
    const digest = first.steps.power!.outputs.powered!.digest;
    const path = join(dir, 'artifacts', 'objects', digest.slice(0, 2), digest.slice(2));
    // A whole-second mtime, so that it can be set back exactly; the next run hashes the file
    // once (its stamp changed) and stamps it again once its ctime is no longer recent.
    await utimes(path, 1_000_000, 1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 250));
    hashed = 0;
    await runPipeline(numbers, options({ storage: counting, configs: { source: { n: 3 } } }));
    expect(hashed).toBe(1);
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 0xff;
    await chmod(path, 0o644);
    await writeFile(path, bytes);
    await utimes(path, 1_000_000, 1_000_000);
    expect((await stat(path)).mtimeMs).toBe(1_000_000_000);
    const third = options({ storage: counting, configs: { source: { n: 3 } } });
    await runPipeline(numbers, third);
    expect(executed(third.events)).toEqual(['power']);
    expect(await storage.verify(digest)).toBe('ok');
  });

  it('trusts a stamp a corruption outside the file system would keep, unless verifyOutputs is full', async () => {
    const { digest, path } = await runAndCorruptPowered();
    // What a disk flipping a bit would leave: the bytes changed, the stamp did not.
    const stampsFile = join(dir, '.cairn', 'verified.json');
    const stamps = JSON.parse(await readFile(stampsFile, 'utf8'));
    const now = await stat(path, { bigint: true });
    stamps.objects[digest] = `${now.size}:${now.mtimeNs}:${now.ctimeNs}:${now.ino}:${now.dev}`;
    await writeFile(stampsFile, JSON.stringify(stamps));
    const trusting = options({ configs: { source: { n: 3 } } });
    await runPipeline(numbers, trusting);
    expect(executed(trusting.events)).toEqual([]);
    const full = options({ configs: { source: { n: 3 } }, verifyOutputs: 'full' });
    await runPipeline(numbers, full);
    expect(executed(full.events)).toEqual(['power']);
    expect(full.events.find((e) => e.type === 'step.started')).toMatchObject({ reason: 'corrupt' });
  });

  it('--force re-executes a step even when cached', async () => {
    await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const forced = options({ configs: { source: { n: 3 } }, force: ['power'] });
    await runPipeline(numbers, forced);
    expect(executed(forced.events)).toEqual(['power']);
    await expect(runPipeline(numbers, options({ force: ['nope'] }))).rejects.toMatchObject({
      code: ErrorCodes.USAGE,
    });
  });

  it('records a failure, skips what depends on it, runs the rest, and resumes through the cache', async () => {
    let fail = true;
    const flaky = step({
      name: 'flaky',
      inputs: { numbers: json<number[]>() },
      outputs: { out: json<number[]>() },
      run: ({ inputs }) => {
        if (fail) throw new Error('boom');
        return { out: inputs.numbers };
      },
    });
    const make = () =>
      pipeline('failing', () => {
        const { numbers: values } = numbersSource();
        const { out } = flaky({ numbers: values });
        sink({ values: out });
        independent();
      });
    const numbersSource = step({
      name: 'numbers',
      outputs: { numbers: json<number[]>() },
      run: () => ({ numbers: [1, 2] }),
    });
    const sink = step({
      name: 'sink',
      inputs: { values: json<number[]>() },
      outputs: { n: metrics() },
      run: ({ inputs }) => ({ n: { n: inputs.values.length } }),
    });
    const independent = step({ name: 'independent', outputs: { v: json<number>() }, run: () => ({ v: 1 }) });

    const first = options();
    const result = await runPipeline(make(), first);
    expect(result.status).toBe('failed');
    expect(result.counts).toEqual({ executed: 2, cached: 0, failed: 1, skipped: 1 });
    expect(result.error).toMatchObject({ step: 'flaky', code: ErrorCodes.STEP_FAILED });
    expect(result.error?.message).toContain('boom');
    expect(first.events.find((e) => e.type === 'step.skipped')).toMatchObject({ step: 'sink' });
    expect(first.events.at(-1)).toMatchObject({ type: 'run.finished', status: 'failed' });
    const executions = await metadata.listExecutions(result.runId);
    expect(executions.map((e) => `${e.step}:${e.status}`).sort()).toEqual([
      'flaky:failed',
      'independent:succeeded',
      'numbers:succeeded',
      'sink:skipped',
    ]);

    fail = false;
    const second = options();
    const resumed = await runPipeline(make(), second);
    expect(resumed.status).toBe('succeeded');
    expect(executed(second.events)).toEqual(['flaky', 'sink']);
    expect(cached(second.events)).toEqual(['independent', 'numbers']);
  });

  it('retries per the step policy and reports each retry', async () => {
    let attempts = 0;
    const shaky = step({
      name: 'shaky',
      retries: { attempts: 2, backoffMs: 1 },
      outputs: { v: json<number>() },
      run: () => {
        attempts++;
        if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
        return { v: attempts };
      },
    });
    const run = options();
    const result = await runPipeline(
      pipeline('retrying', () => void shaky()),
      run,
    );
    expect(result.status).toBe('succeeded');
    expect(result.steps.shaky!.attempts).toBe(3);
    expect(run.events.filter((e) => e.type === 'step.retrying')).toHaveLength(2);
  });

  it('fails a step whose outputs do not match its declaration, without retrying', async () => {
    let calls = 0;
    const wrong = step({
      name: 'wrong',
      retries: 3,
      outputs: { m: metrics(), extra: json<number>() },
      run: () => {
        calls++;
        return { m: { accuracy: 'high' } } as never;
      },
    });
    const result = await runPipeline(
      pipeline('wrong-outputs', () => void wrong()),
      options(),
    );
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCodes.STEP_OUTPUT_INVALID);
    expect(result.error?.message).toMatch(/missing output "extra"/);
    expect(result.error?.message).toMatch(/output "m" is not a valid metrics/);
    expect(calls).toBe(1);
  });

  it('times a step out', async () => {
    const slow = step({
      name: 'slow',
      timeoutMs: 50,
      outputs: { v: json<number>() },
      run: ({ signal }) =>
        new Promise((resolve) => signal.addEventListener('abort', () => resolve({ v: 1 }))),
    });
    const result = await runPipeline(
      pipeline('timeouts', () => void slow()),
      options(),
    );
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe(ErrorCodes.STEP_TIMEOUT);
  });

  it('cancels through the abort signal: the step sees it and the run ends cancelled', async () => {
    const controller = new AbortController();
    const run = options({
      signal: controller.signal,
      onEvent: (e) => {
        run.events.push(e);
        if (e.type === 'step.started') setTimeout(() => controller.abort(), 20);
      },
    });
    const result = await runPipeline(waiting, run);
    expect(result.status).toBe('cancelled');
    expect((await metadata.getRun(result.runId))?.status).toBe('cancelled');
    expect(run.events.at(-1)).toMatchObject({ type: 'run.finished', status: 'cancelled' });
  });

  it('waits for a cancelled step to clean up before the run ends, and not forever for one that ignores its signal', async () => {
    const controller = new AbortController();
    let cleanedUp = false;
    const tidy = step({
      name: 'tidy',
      outputs: { v: json<number>() },
      run: async ({ signal }) => {
        try {
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
          return { v: 1 };
        } finally {
          // Cleanup that takes a while (removing a staging endpoint): the run must not end before it.
          await new Promise((resolve) => setTimeout(resolve, 100));
          cleanedUp = true;
        }
      },
    });
    const run = options({
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step.started') setTimeout(() => controller.abort(), 20);
      },
    });
    const result = await runPipeline(
      pipeline('cleanup', () => void tidy()),
      run,
    );
    expect(result.status).toBe('cancelled');
    expect(cleanedUp).toBe(true);

    // A step that never settles is given up on: the run still ends, cancelled.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const stuck = step({
        name: 'stuck',
        outputs: { v: json<number>() },
        run: () => new Promise<never>(() => {}),
      });
      const again = new AbortController();
      const ending = runPipeline(
        pipeline('cleanup-stuck', () => void stuck()),
        options({
          signal: again.signal,
          onEvent: (e) => {
            if (e.type === 'step.started') queueMicrotask(() => again.abort());
          },
        }),
      );
      let ended = false;
      void ending.then(() => {
        ended = true;
      });
      while (!ended) await vi.advanceTimersByTimeAsync(STEP_CLEANUP_MS);
      expect((await ending).status).toBe('cancelled');
    } finally {
      vi.useRealTimers();
    }
  });

  it('runs command steps with their config file and output folder', async () => {
    const scored = commandStep({
      name: 'scored',
      config: z.object({ factor: z.number() }),
      command: `node -e "const c=require(process.env.CAIRN_CONFIG);require('fs').writeFileSync(process.argv[1], JSON.stringify({score: c.factor*2}))" {outputs.scores}`,
      outputs: { scores: metrics() },
    });
    const copies = commandStep({
      name: 'copies',
      inputs: { scores: metrics() },
      // both spellings of an input path work: the placeholder and $CAIRN_INPUTS/<name>
      command: 'cmp {inputs.scores} "$CAIRN_INPUTS/scores" && cp "$CAIRN_INPUTS/scores" {outputs.same}',
      outputs: { same: metrics() },
    });
    const failing = commandStep({
      name: 'failing',
      command: 'echo broken >&2; exit 3',
      outputs: { x: metrics() },
    });
    const ok = await runPipeline(
      pipeline('commands', () => void scored()),
      options({ configs: { scored: { factor: 21 } } }),
    );
    expect(ok.status).toBe('succeeded');
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(ok.steps.scored!.outputs.scores!.digest))
      chunks.push(Buffer.from(chunk));
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ score: 42 });
    const chained = await runPipeline(
      pipeline('commands-chained', () => {
        const { scores } = scored();
        copies({ scores });
      }),
      options({ configs: { scored: { factor: 21 } } }),
    );
    expect(chained.status).toBe('succeeded');
    expect(chained.steps.copies!.outputs.same!.digest).toBe(ok.steps.scored!.outputs.scores!.digest);

    const bad = await runPipeline(
      pipeline('commands-bad', () => void failing()),
      options(),
    );
    expect(bad.status).toBe('failed');
    expect(bad.error?.message).toMatch(/exited with code 3/);
    expect(bad.error?.message).toMatch(/broken/);
  });

  it('runs steps in worker threads with the same results as in-process', async () => {
    const configs = { a: { ms: 100, seed: 1 }, b: { ms: 100, seed: 2 } };
    const pooled = await runPipeline(busyPair, options({ configs, executor: workerPool({ size: 2 }) }));
    expect(pooled.status).toBe('succeeded');
    expect(pooled.counts.executed).toBe(2);
    const inline = await runPipeline(busyPair, options({ configs, executor: inProcess(), noCache: true }));
    // in a thread the step reports thread: true, so the digests differ exactly there
    expect(inline.steps.a!.outputs.out!.digest).not.toBe(pooled.steps.a!.outputs.out!.digest);
    const read = async (digest: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.get(digest)) chunks.push(Buffer.from(chunk));
      return JSON.parse(Buffer.concat(chunks).toString());
    };
    expect(await read(pooled.steps.b!.outputs.out!.digest)).toEqual({ seed: 2, thread: true });
    expect(await read(inline.steps.b!.outputs.out!.digest)).toEqual({ seed: 2, thread: false });
  });

  it("tells a step the run's state folder, in this thread and in a worker's, and keeps its scratch there", async () => {
    const read = async (digest: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.get(digest)) chunks.push(Buffer.from(chunk));
      return JSON.parse(Buffer.concat(chunks).toString());
    };
    const told = async (extra: Partial<RunOptions>) => {
      const result = await runPipeline(whereFolders, options({ noCache: true, ...extra }));
      expect(result.status).toBe('succeeded');
      return read(result.steps.folders!.outputs.out!.digest);
    };
    // Relative to the project, as the config's stateDir is.
    expect(await told({ stateDir: 'elsewhere/state' })).toEqual({
      projectDir: dir,
      stateDir: join(dir, 'elsewhere', 'state'),
      scratchInState: true,
      thread: false,
    });
    expect(await told({ stateDir: join(dir, 'abs'), executor: workerPool({ size: 1 }) })).toEqual({
      projectDir: dir,
      stateDir: join(dir, 'abs'),
      scratchInState: true,
      thread: true,
    });
    expect(await told({})).toEqual({
      projectDir: dir,
      stateDir: join(dir, '.cairn'),
      scratchInState: true,
      thread: false,
    });
    // A scratch folder of its own, when given one.
    expect(await told({ stateDir: 'state', tmpDir: join(dir, 'scratch') })).toMatchObject({
      scratchInState: false,
    });
  });

  it('re-creates a TypeScript-only storage plugin from the project in worker threads', async () => {
    // A platform team's plugin published as TypeScript sources, installed in the project.
    const pkg = join(dir, 'node_modules', '@acme', 'store');
    await mkdir(pkg, { recursive: true });
    await mkdir(join(dir, 'node_modules', '@cairn'));
    for (const name of ['core', 'runtime'])
      await symlink(
        fileURLToPath(new URL(`../../${name}`, import.meta.url)),
        join(dir, 'node_modules', '@cairn', name),
      );
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({ name: '@acme/store', type: 'module', exports: './index.ts' }),
    );
    await writeFile(
      join(pkg, 'index.ts'),
      [
        "import type { StorageDriver } from '@cairn/core';",
        "import { localStore } from '@cairn/runtime';",
        'export function acmeStore(options: { dir: string }): StorageDriver {',
        "  return { ...localStore(options), name: 'acme', ref: { module: '@acme/store', export: 'acmeStore', options } };",
        '}',
      ].join('\n'),
    );
    const { acmeStore } = (await import(join(pkg, 'index.ts'))) as {
      acmeStore(o: { dir: string }): StorageDriver;
    };
    const result = await runPipeline(
      busyPair,
      options({
        storage: acmeStore({ dir: join(dir, 'acme') }),
        executor: workerPool({ size: 1 }),
        configs: { a: { ms: 1, seed: 1 }, b: { ms: 1, seed: 2 } },
      }),
    );
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
  });

  it('refuses a worker pool over storage that cannot cross threads', async () => {
    await expect(
      runPipeline(
        busyPair,
        options({
          storage: memoryStore(),
          executor: workerPool({ size: 1 }),
          configs: { a: { ms: 1, seed: 1 }, b: { ms: 1, seed: 1 } },
        }),
      ),
    ).rejects.toMatchObject({ code: ErrorCodes.EXECUTOR_FAILED });
    // The refused run is recorded as failed, not left running.
    const [run] = await metadata.listRuns({});
    expect(run).toMatchObject({ status: 'failed' });
    expect(run!.error).toMatch(/^executor: /);
  });
});

describe('planPipeline', () => {
  it('says what would run and why, without running', async () => {
    const before = await planPipeline(numbers, {
      storage,
      metadata,
      projectDir: dir,
      configs: { source: { n: 3 } },
    });
    expect(before.steps.map((s) => `${s.step}:${s.action}:${s.reason}`)).toEqual([
      'source:run:new',
      'other:run:new',
      'power:run:upstream',
      'total:run:upstream',
    ]);
    expect(await metadata.listRuns()).toEqual([]);
    await runPipeline(numbers, options({ configs: { source: { n: 3 } } }));
    const after = await planPipeline(numbers, {
      storage,
      metadata,
      projectDir: dir,
      configs: { source: { n: 4 } },
    });
    expect(after.steps.map((s) => `${s.step}:${s.action}:${s.reason}`)).toEqual([
      'source:run:config-changed',
      'other:cached:cached',
      'power:run:upstream',
      'total:run:upstream',
    ]);
  });

  it('reports a code change', async () => {
    const make = (offset: number) =>
      pipeline('code', () => {
        if (offset === 0) constant();
        else changed();
      });
    const constant = step({ name: 'constant', outputs: { v: json<number>() }, run: () => ({ v: 1 }) });
    const changed = step({ name: 'constant', outputs: { v: json<number>() }, run: () => ({ v: 2 }) });
    await runPipeline(make(0), options());
    const plan = await planPipeline(make(1), { storage, metadata, projectDir: dir });
    expect(plan.steps[0]).toMatchObject({ step: 'constant', action: 'run', reason: 'code-changed' });
    const versioned = step({
      name: 'constant',
      version: 2,
      outputs: { v: json<number>() },
      run: () => ({ v: 1 }),
    });
    const bumped = await planPipeline(
      pipeline('code', () => void versioned()),
      { storage, metadata, projectDir: dir },
    );
    expect(bumped.steps[0]).toMatchObject({ reason: 'code-changed' });
  });
});

describe('lent services (uses)', () => {
  it('refuses, before anything is recorded, a pipeline whose step uses a service the stack lacks', async () => {
    const metadata = memoryMetadata();
    const deploys = step({
      name: 'deploys',
      uses: ['deployer'],
      outputs: { out: json<number>() },
      run: () => ({ out: 1 }),
    });
    const lone = pipeline('needs-deployer', () => {
      deploys();
    });
    const error = await runPipeline(lone, { storage: memoryStore(), metadata }).catch((e) => e);
    expect(error).toMatchObject({ code: ErrorCodes.STACK_INVALID });
    expect(error.message).toContain('step "deploys" uses the deployer');
    expect(error.message).toContain('cairn add deploy-local');
    expect(await metadata.listRuns({})).toEqual([]);
  });

  it('runs a step that uses an optional service the stack lacks, without it', async () => {
    const seen: unknown[] = [];
    const maybe = step({
      name: 'maybe',
      uses: ['abtest?', 'registry'],
      outputs: { out: json<boolean>() },
      run: ({ abtest, registry }) => {
        seen.push(abtest, typeof registry?.listModels);
        return { out: abtest === undefined };
      },
    });
    const optional = pipeline('optional-abtest', () => {
      maybe();
    });
    const result = await runPipeline(optional, { storage: memoryStore(), metadata: memoryMetadata() });
    expect(result.status).toBe('succeeded');
    expect(seen).toEqual([undefined, 'function']);
  });
});
