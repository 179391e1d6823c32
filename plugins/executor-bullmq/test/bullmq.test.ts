// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent, ExecutorDescriptor, StepTask, StorageDriver } from '@cairn/core';
import { inProcess, localStore, type RunOptions, runPipeline } from '@cairn/runtime';
import { freePort, memoryMetadata, memoryStore } from '@cairn/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { bullmqExecutor, localTask, startWorker, type WorkerJobEvent } from '../src/index';
import { fanout, listening, secretive, slow } from './fixtures/pipelines';
import { type ChildWorker, startChildWorker, uniqueQueue } from './helpers';

const url = () => inject('redisUrl');
const PASSWORD = 'cairn-test-redis';

let dir: string;
let storage: StorageDriver;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bullmq-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let workers: ChildWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  workers = [];
});

const run = async (
  pipeline: Parameters<typeof runPipeline>[0],
  executor: ExecutorDescriptor,
  extra: Partial<RunOptions> = {},
) => {
  const events: CairnEvent[] = [];
  const result = await runPipeline(pipeline, {
    storage,
    metadata: memoryMetadata(),
    projectDir: dir,
    executor,
    noCache: true,
    ...extra,
    onEvent: (e) => {
      events.push(e);
      extra.onEvent?.(e);
    },
  });
  return { result, events };
};

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** Poll until `check` holds; a condition that never holds is caught by the suite's hang guard, not a speed bound. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** A Redis of the test's own, to stop and start: the suite's is shared with the other test file. */
async function ownRedis(name: string) {
  const server = join(import.meta.dirname, '../../../scripts/servers/redis.sh');
  const redisDir = join(dir, name);
  const port = String(await freePort());
  return {
    /** Starts it (again), on the same port; returns its URL. */
    start: () => execFileSync('bash', [server, 'start', redisDir, port], { encoding: 'utf8' }).trim(),
    stop: () => {
      execFileSync('bash', [server, 'stop', redisDir]);
    },
  };
}

describe('distributed runs on worker processes', () => {
  it('spreads a fan-out pipeline over two workers, forwards their logs, and stores what in-process execution stores', async () => {
    const queue = uniqueQueue('fanout');
    workers = await Promise.all([1, 2].map(() => startChildWorker({ url: url(), queue })));
    const configs = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [`scale-${i}`, { factor: i + 1, ms: 300 }]),
    );
    const { result, events } = await run(
      fanout,
      bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }),
      { configs, concurrency: 4 },
    );
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.counts.executed).toBe(8);

    // Which process ran which step: the step's own log line (forwarded through Redis) names its pid …
    const ranBy = Object.fromEntries(
      events
        .filter(
          (e): e is Extract<CairnEvent, { type: 'step.log' }> => e.type === 'step.log' && e.message === 'ran',
        )
        .map((e) => [e.step, (e.fields as { pid: number }).pid]),
    );
    console.info('step → worker pid:', ranBy);
    expect(Object.keys(ranBy).sort()).toEqual(Object.keys(result.steps).sort());
    const pids = workers.map((w) => w.pid);
    expect(new Set(Object.values(ranBy))).toEqual(new Set(pids));
    // … and each worker's own report agrees.
    for (const worker of workers) {
      const finished = worker.events.filter((e) => e.type === 'finished' && e.status === 'succeeded');
      expect(finished.map((e) => e.step).sort()).toEqual(
        Object.entries(ranBy)
          .filter(([, pid]) => pid === worker.pid)
          .map(([step]) => step)
          .sort(),
      );
    }

    const reference = await runPipeline(fanout, {
      storage,
      metadata: memoryMetadata(),
      projectDir: dir,
      executor: inProcess(),
      noCache: true,
      configs,
    });
    for (const [step, outcome] of Object.entries(reference.steps)) {
      expect(result.steps[step]!.outputs).toEqual(outcome.outputs);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(result.steps.total!.outputs.sum!.digest))
      chunks.push(Buffer.from(chunk));
    expect(JSON.parse(Buffer.concat(chunks).toString())).toBe((1 + 6) * 36);
  });

  it('retakes the job of a worker killed mid-step on the other worker, and the run succeeds', async () => {
    const queue = uniqueQueue('kill');
    const short = { url: url(), queue, lockMs: 2000, stalledMs: 500 };
    workers = await Promise.all([1, 2].map(() => startChildWorker(short)));
    let victim: ChildWorker | undefined;
    const running = run(slow, bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }), {
      configs: { nap: { ms: 1500 } },
    });
    // Whichever worker takes the step first is killed without a chance to clean up.
    await Promise.race(
      workers.map((worker) =>
        worker
          .waitFor((e) => e.type === 'log' && e.message === 'napping')
          .then(() => {
            victim ??= worker;
          }),
      ),
    );
    victim!.process.kill('SIGKILL');
    expect(await victim!.exited).toBe('SIGKILL');
    const survivor = workers.find((w) => w !== victim)!;

    const { result, events } = await running;
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const finished = await survivor.waitFor((e) => e.type === 'finished' && e.step === 'nap');
    expect(finished.status).toBe('succeeded');
    // Both processes started the step: the victim first, the survivor after the lock expired
    // (the victim's own log line may die with it before reaching Redis).
    expect(victim!.events.filter((e) => e.type === 'started').map((e) => e.step)).toEqual(['nap']);
    const naps = events.filter(
      (e): e is Extract<CairnEvent, { type: 'step.log' }> => e.type === 'step.log' && e.message === 'napping',
    );
    expect(naps.map((e) => (e.fields as { pid: number }).pid).at(-1)).toBe(survivor.pid);
  });

  it('a worker stopped mid-step puts the job back at once: another worker runs it long before the lock would expire', async () => {
    const queue = uniqueQueue('return');
    // The default 30 s lock: a retake through the stalled check would take that long.
    const leaving = await startChildWorker({ url: url(), queue });
    workers = [leaving];
    const running = run(slow, bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }), {
      configs: { nap: { ms: 1500 } },
    });
    await leaving.waitFor((e) => e.type === 'log' && e.message === 'napping');
    const stayingStarts = startChildWorker({ url: url(), queue });
    leaving.process.kill('SIGTERM');
    expect(await leaving.exited).toBe(0);
    expect(leaving.events.find((e) => e.type === 'finished')).toMatchObject({
      step: 'nap',
      status: 'returned',
    });
    const staying = await stayingStarts;
    workers.push(staying);
    const { result } = await running;
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(await staying.waitFor((e) => e.type === 'finished')).toMatchObject({
      step: 'nap',
      status: 'succeeded',
    });
  });

  it('cancels a step running on a worker: its signal fires there and the run ends cancelled', async () => {
    const queue = uniqueQueue('abort');
    workers = [await startChildWorker({ url: url(), queue })];
    const marker = join(dir, 'abort-marker.txt');
    const controller = new AbortController();
    // Once the step runs (its module loaded, its listener set), not merely once the worker took the job.
    void workers[0]!
      .waitFor((e) => e.type === 'log' && e.message === 'listening')
      .then(() => controller.abort());
    const { result } = await run(
      listening,
      bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }),
      {
        configs: { listen: { marker } },
        signal: controller.signal,
      },
    );
    expect(result.status).toBe('cancelled');
    expect(result.steps.listen!.status).toBe('cancelled');
    // The run does not wait for the worker to acknowledge; the step writes its marker moments later
    // (wait for its content: the file exists an instant before its bytes are in it).
    await until(() => existsSync(marker) && readFileSync(marker, 'utf8') !== '');
    expect(await readFile(marker, 'utf8')).toBe(`aborted CAIRN_RUN_CANCELLED in ${workers[0]!.pid}`);
    const finished = await workers[0]!.waitFor((e) => e.type === 'finished' && e.step === 'listen');
    expect(finished.status).toBe('cancelled');
  });

  it('fails a step whose pipeline module the worker cannot find with CAIRN_PIPELINE_NOT_FOUND naming it', async () => {
    const queue = uniqueQueue('missing');
    workers = [await startChildWorker({ url: url(), queue, projectDir: dir })];
    const executor = await bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }).create({
      storage,
    });
    try {
      const error = await rejection(
        executor.execute(
          {
            runId: 'run_missing',
            executionId: 'ex_missing',
            step: 'train',
            pipeline: {
              module: '/nonexistent/alice/proj/pipelines/training.ts',
              export: 'default',
              name: 'training',
            },
            config: {},
            inputs: {},
            attempt: 1,
            tmpDir: '/nonexistent/alice/proj/.cairn/tmp',
            projectDir: '/nonexistent/alice/proj',
          },
          { signal: new AbortController().signal },
        ),
      );
      expect(error.code).toBe('CAIRN_PIPELINE_NOT_FOUND');
      expect(error.message).toContain('/nonexistent/alice/proj/pipelines/training.ts');
      expect(error.message).toContain(join(dir, 'pipelines', 'training.ts'));
    } finally {
      await executor.close();
    }
    expect(await workers[0]!.waitFor((e) => e.type === 'finished')).toMatchObject({
      step: 'train',
      status: 'failed',
    });
  });

  it('fails a step whose job Redis lost (restarted without persistence) instead of waiting forever', async () => {
    const queue = uniqueQueue('lost');
    const executor = await bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }).create({
      storage,
    });
    const task: StepTask = {
      runId: 'run_x',
      executionId: 'ex_lost',
      step: 'listen',
      pipeline: {
        module: join(import.meta.dirname, 'fixtures/pipelines.ts'),
        export: 'listening',
        name: 'bullmq-listening',
      },
      config: { marker: join(dir, 'lost.txt') },
      inputs: {},
      attempt: 1,
      tmpDir: join(dir, 'tmp'),
      projectDir: dir,
    };
    const { Redis } = await import('ioredis');
    const redis = new Redis(url());
    try {
      const pending = executor.execute(task, { signal: new AbortController().signal });
      // No worker takes it; once it is on the queue, Redis loses every key of the queue.
      const jobKey = `bull:${queue}:ex_lost-1`;
      while (!(await redis.exists(jobKey))) await new Promise((resolve) => setTimeout(resolve, 25));
      const keys = await redis.keys(`bull:${queue}:*`);
      await redis.del(...keys);
      const error = await rejection(pending);
      expect(error.code).toBe('CAIRN_EXECUTOR_FAILED');
      expect(error.message).toMatch(/step "listen" .*the job is gone from the queue/);
      expect(error.message).not.toContain(PASSWORD);
    } finally {
      redis.disconnect();
      await executor.close();
    }
  });

  it('closes, as does a worker, after its Redis restarted, while their connections are still reconnecting', async () => {
    const { start, stop } = await ownRedis('restarted-redis');
    const connection = start();
    try {
      const queue = uniqueQueue('restart');
      const executor = await bullmqExecutor({ connection, queue, allowLocalStorage: true }).create({
        storage,
      });
      const worker = await startWorker({ connection, queue, projectDir: dir });
      stop();
      // Down long enough for every client to see it, and to wait for its next try.
      await new Promise((resolve) => setTimeout(resolve, 300));
      start();
      // BullMQ's QueueEvents and Worker, closed now, waited forever for their connections to end:
      // a run never ended, and neither did `cairn worker` on SIGTERM.
      await Promise.all([executor.close(), worker.close()]);
    } finally {
      stop();
    }
  });

  it('a worker stopped while Redis is down still stops: the job it cannot put back is left to its lock', async () => {
    const { start, stop } = await ownRedis('down-redis');
    const connection = start();
    try {
      const queue = uniqueQueue('down');
      const executor = await bullmqExecutor({ connection, queue, allowLocalStorage: true }).create({
        storage,
      });
      const jobs: WorkerJobEvent[] = [];
      let listening = false;
      const worker = await startWorker({
        connection,
        queue,
        projectDir: dir,
        onJob: (e) => jobs.push(e),
        onLog: (line) => {
          listening ||= line.message === 'listening';
        },
      });
      const pending = executor.execute(
        {
          runId: 'run_down',
          executionId: 'ex_down',
          step: 'listen',
          pipeline: {
            module: join(import.meta.dirname, 'fixtures/pipelines.ts'),
            export: 'listening',
            name: 'bullmq-listening',
          },
          config: { marker: join(dir, 'down.txt') },
          inputs: {},
          attempt: 1,
          tmpDir: join(dir, 'tmp'),
          projectDir: dir,
        },
        { signal: new AbortController().signal },
      );
      pending.catch(() => {});
      // Its step is running (and waits for its signal) before Redis goes.
      await until(() => listening);
      stop();
      // The step stops at once; putting its job back waited for Redis to return, and so did close.
      await worker.close({ abandon: true });
      expect(readFileSync(join(dir, 'down.txt'), 'utf8')).toMatch(/^aborted CAIRN_RUN_CANCELLED/);
      expect(jobs.at(-1)).toMatchObject({ type: 'finished', status: 'returned' });
      expect((jobs.at(-1) as { error?: { message: string } }).error?.message).toMatch(
        /did not answer: the job goes back to the queue when its lock expires/,
      );
      // So does the run's side: its executor closes, and the step it was waiting for ends cancelled.
      await executor.close();
      expect((await rejection(pending)).code).toBe('CAIRN_RUN_CANCELLED');
    } finally {
      stop();
    }
  });

  it('removes a step no worker has taken when the run is cancelled', async () => {
    const queue = uniqueQueue('nobody');
    const executor = await bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }).create({
      storage,
    });
    const controller = new AbortController();
    const task: StepTask = {
      runId: 'run_x',
      executionId: 'ex_nobody',
      step: 'listen',
      pipeline: {
        module: join(import.meta.dirname, 'fixtures/pipelines.ts'),
        export: 'listening',
        name: 'bullmq-listening',
      },
      config: { marker: join(dir, 'never.txt') },
      inputs: {},
      attempt: 1,
      tmpDir: join(dir, 'tmp'),
      projectDir: dir,
    };
    const pending = executor.execute(task, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const error = await rejection(pending);
    expect(error.code).toBe('CAIRN_RUN_CANCELLED');
    await executor.close();
    // A worker started now finds nothing to run: the job was removed, not left waiting.
    workers = [await startChildWorker({ url: url(), queue })];
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(workers[0]!.events.filter((e) => e.type === 'started')).toEqual([]);
    expect(existsSync(join(dir, 'never.txt'))).toBe(false);
  });
});

describe('secrets', () => {
  it('job data in Redis holds the ${env:…} reference; the worker resolves it from its own environment and parses it with the step’s schema', async () => {
    const secret = 'redis-job-Secr3t-0042';
    const queue = uniqueQueue('secrets');
    process.env.BULLMQ_TEST_SECRET = secret;
    try {
      workers = [await startChildWorker({ url: url(), queue })];
    } finally {
      delete process.env.BULLMQ_TEST_SECRET;
    }
    const { result } = await run(
      secretive,
      bullmqExecutor({ connection: url(), queue, allowLocalStorage: true }),
      {
        configs: { connect: { url: 'postgres://app:${env:BULLMQ_TEST_SECRET}@db' } },
        environment: { BULLMQ_TEST_SECRET: secret },
      },
    );
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(result.steps.connect!.outputs.seen!.digest))
      chunks.push(Buffer.from(chunk));
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({
      length: 'postgres://app:@db'.length + secret.length,
      tail: '2@db',
      // Parsed by the step's schema on the worker, as on the coordinator.
      port: 5432,
    });

    const { Redis } = await import('ioredis');
    const redis = new Redis(url(), { lazyConnect: true });
    try {
      await redis.connect();
      const keys = await redis.keys(`bull:${queue}:*`);
      const jobs: string[] = [];
      for (const key of keys) {
        if ((await redis.type(key)) !== 'hash') continue;
        const data = await redis.hget(key, 'data');
        if (data) jobs.push(data);
      }
      expect(jobs).toHaveLength(1);
      expect(JSON.parse(jobs[0]!).config).toEqual({ url: 'postgres://app:${env:BULLMQ_TEST_SECRET}@db' });
      for (const key of keys) {
        const dump = JSON.stringify(
          (await redis.type(key)) === 'hash' ? await redis.hgetall(key) : await redis.dump(key),
        );
        expect(dump, key).not.toContain(secret);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('connecting', () => {
  it('fails instead of retrying forever, naming host:port and never the password, when nothing listens on the port', async () => {
    const port = await freePort();
    const descriptor = bullmqExecutor({
      connection: `redis://:hunter2-secret@127.0.0.1:${port}`,
      allowLocalStorage: true,
    });
    const error = await rejection(Promise.resolve(descriptor.create({ storage })));
    expect(error.code).toBe('CAIRN_EXECUTOR_FAILED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain('hunter2');
  });

  it('reports a wrong password without printing it', async () => {
    const wrong = url().replace(PASSWORD, 'not-the-password-42');
    const error = await rejection(
      Promise.resolve(bullmqExecutor({ connection: wrong, allowLocalStorage: true }).create({ storage })),
    );
    expect(error.code).toBe('CAIRN_EXECUTOR_FAILED');
    expect(error.message).toMatch(/WRONGPASS|NOAUTH|invalid/i);
    expect(`${error.message}\n${error.stack}`).not.toContain('not-the-password-42');
  });

  it('resolves ${env:…} when the run starts, not when the config is loaded', async () => {
    const name = `CAIRN_TEST_REDIS_${process.pid}`;
    const descriptor = bullmqExecutor({ connection: `\${env:${name}}`, allowLocalStorage: true });
    const missing = await rejection(Promise.resolve(descriptor.create({ storage })));
    expect(missing.code).toBe('CAIRN_CONFIG_ENV_MISSING');
    expect(missing.message).toContain(name);
    process.env[name] = url();
    try {
      const executor = await descriptor.create({ storage });
      expect(executor.concurrency).toBe(4);
      await executor.close();
    } finally {
      delete process.env[name];
    }
  });

  it('refuses a storage that workers cannot re-create or reach, before connecting', async () => {
    const port = await freePort();
    const connection = `redis://127.0.0.1:${port}`;
    const noRef = await rejection(
      Promise.resolve(
        bullmqExecutor({ connection, allowLocalStorage: true }).create({ storage: memoryStore() }),
      ),
    );
    expect(noRef.code).toBe('CAIRN_EXECUTOR_FAILED');
    expect(noRef.message).toMatch(/storage "memory".*no ref/);
    const local = await rejection(Promise.resolve(bullmqExecutor({ connection }).create({ storage })));
    expect(local.code).toBe('CAIRN_EXECUTOR_FAILED');
    expect(local.message).toMatch(/storage "local" is not shared across machines/);
    expect((local as { hint?: string }).hint).toMatch(/allowLocalStorage/);
  });
});

describe('options', () => {
  const invalid = (options: unknown, pattern: RegExp) => {
    expect(() => bullmqExecutor(options as never)).toThrow(
      expect.objectContaining({
        code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
        message: expect.stringMatching(pattern),
      }),
    );
  };

  it('are checked when the factory is called, naming the option', () => {
    invalid(undefined, /"connection" is required/);
    invalid({}, /"connection" is required: it must be a redis:\/\/ URL/);
    invalid({ connection: ' ' }, /"connection" must be a redis:\/\/ URL/);
    invalid({ connection: 'http://127.0.0.1:6379' }, /"connection" must use redis:\/\/ or rediss:\/\//);
    invalid({ connection: 'redis://127.0.0.1', quue: 'x' }, /"quue" is not an option/);
    invalid({ connection: 'redis://127.0.0.1', queue: 'a:b' }, /"queue" must be a name/);
    invalid(
      { connection: 'redis://127.0.0.1', concurrency: 0 },
      /"concurrency" must be a positive integer, got 0/,
    );
    invalid(
      { connection: 'redis://127.0.0.1', lockDurationMs: 500 },
      /"lockDurationMs" must be at least 1000/,
    );
    invalid(
      { connection: 'redis://127.0.0.1', stalledIntervalMs: 1.5 },
      /"stalledIntervalMs" must be a positive integer/,
    );
    invalid(
      { connection: 'redis://127.0.0.1', allowLocalStorage: 'yes' },
      /"allowLocalStorage" must be a boolean/,
    );
  });

  it('never echo a URL that may hold a password', () => {
    for (const connection of ['redis://:s3cret-pass@127.0.0.1/db-name', 'ftp://:s3cret-pass@host']) {
      try {
        bullmqExecutor({ connection });
        throw new Error('expected a throw');
      } catch (error) {
        expect((error as { code?: string }).code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
        expect((error as Error).message).not.toContain('s3cret-pass');
      }
    }
  });

  it('accept a ${env:…} reference unchecked until connect, and describe themselves', () => {
    const descriptor = bullmqExecutor({ connection: '${env:REDIS_URL}', queue: 'team', concurrency: 8 });
    expect(descriptor).toMatchObject({
      kind: 'executor',
      name: 'bullmq',
      options: { connection: '${env:REDIS_URL}', queue: 'team', concurrency: 8 },
    });
  });
});

describe('localTask: a worker in another checkout of the project', () => {
  it('maps paths inside the coordinator project folder into the worker’s', async () => {
    const mine = join(dir, 'checkout');
    await mkdir(join(mine, 'pipelines'), { recursive: true });
    await writeFile(join(mine, 'pipelines', 'training.ts'), 'export {};\n');
    const theirs = '/home/alice/work/team-proj';
    /** A task of theirs, its state folder at `stateDir`. */
    const theirTask = (stateDir: string) => ({
      runId: 'r',
      executionId: 'e',
      step: 'train',
      pipeline: { module: `file://${theirs}/pipelines/training.ts`, export: 'default', name: 'training' },
      config: {},
      inputs: {},
      attempt: 1,
      tmpDir: `${theirs}/.cairn/tmp`,
      projectDir: theirs,
      stateDir,
    });
    const task = localTask(theirTask(`${theirs}/state`), mine);
    expect(task.pipeline.module).toBe(join(mine, 'pipelines', 'training.ts'));
    expect(task.projectDir).toBe(mine);
    expect(task.tmpDir).toBe(join(mine, '.cairn', 'tmp'));
    expect(task.stateDir).toBe(join(mine, 'state'));
    // A state folder outside their project means nothing here: the runner's default instead.
    expect(localTask(theirTask('/var/lib/alice-state'), mine)).not.toHaveProperty('stateDir');
  });

  it('refuses a module that exists neither where the coordinator had it nor in the checkout', () => {
    expect(() =>
      localTask(
        {
          runId: 'r',
          executionId: 'e',
          step: 'train',
          pipeline: { module: '/opt/elsewhere/pipelines/x.ts', export: 'default', name: 'x' },
          config: {},
          inputs: {},
          attempt: 1,
          tmpDir: '/tmp',
          projectDir: '/home/alice/work/team-proj',
        },
        dir,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'CAIRN_PIPELINE_NOT_FOUND',
        message: expect.stringMatching(/does not exist on this worker/),
      }),
    );
  });
});
