/**
 * Faults at run level, on the team stack started for real on 127.0.0.1:
 * PostgreSQL metadata, radosgw (S3) artifacts and BullMQ workers on Redis,
 * each restarted or cut off while `cairn run --env team` is in the middle of
 * the fixture pipeline. Whatever happens to the run, it must end `failed` or
 * finish; the next run resumes without re-running what finished, ends with
 * the digests an uninterrupted run makes, and nothing is left `running`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CairnEvent } from '@cairn/core';
import { postgresMetadata } from '@cairn/metadata-postgres';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../../packages/testkit/src/ports';
// Type-only: brings in the harness's `inject('s3')` declaration.
import type {} from '../../../plugins/storage-s3/test/server';
import { alive, cairn, chaosProject, type Running, start, until } from '../src/cli';

const run = promisify(execFile);
const script = (name: string) =>
  fileURLToPath(new URL(`../../../scripts/servers/${name}.sh`, import.meta.url));

const pg = { dir: `/tmp/cairn-chaos-pg-${process.pid}-${randomBytes(4).toString('hex')}`, port: 0, url: '' };
const redis = {
  dir: `/tmp/cairn-chaos-redis-${process.pid}-${randomBytes(4).toString('hex')}`,
  port: 0,
  url: '',
};

async function startPostgres(): Promise<void> {
  pg.url = (await run('bash', [script('postgres'), 'start', pg.dir, String(pg.port)])).stdout.trim();
}
/** A fast shutdown (SIGINT to the postmaster), keeping the data, as an operator's restart does. */
async function stopPostgres(): Promise<void> {
  const pidFile = `${pg.dir}/data/postmaster.pid`;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGINT');
  await until(() => !alive(pid));
}
async function startRedis(): Promise<void> {
  redis.url = (await run('bash', [script('redis'), 'start', redis.dir, String(redis.port)])).stdout.trim();
}
/** Redis keeps nothing across a restart here (no RDB, no AOF): the queue's jobs are gone. */
async function stopRedis(): Promise<void> {
  await run('bash', [script('redis'), 'stop', redis.dir]);
}

beforeAll(async () => {
  pg.port = await freePort();
  redis.port = await freePort();
  await startPostgres();
  await startRedis();
});
afterAll(async () => {
  await run('bash', [script('postgres'), 'stop', pg.dir]).catch(() => {});
  await run('bash', [script('redis'), 'stop', redis.dir]).catch(() => {});
});

type Outputs = Record<string, Record<string, string>>;
const outputsOf = (events: CairnEvent[]): Outputs => {
  const outputs: Outputs = {};
  for (const e of events) {
    if (e.type === 'step.succeeded' || e.type === 'step.cached') {
      outputs[e.step] = Object.fromEntries(Object.entries(e.outputs).map(([k, v]) => [k, v.digest]));
    }
  }
  return outputs;
};
const finishedSteps = (events: CairnEvent[]) =>
  events.flatMap((e) => (e.type === 'step.succeeded' || e.type === 'step.cached' ? [e.step] : []));

// A short chain whose steps take a moment, so that a fault lands in the middle of the run.
const SHAPE = { CHAOS_STEPS: '6', CHAOS_DELAY_MS: '400', CHAOS_BIG_MB: '2' };

/** A project on the team stack, with its own schema, bucket prefix and queue, and a worker. */
async function teamProject(name: string) {
  const project = await chaosProject(`fault-${name}`);
  const s3 = inject('s3');
  const id = `${name.replaceAll('-', '_')}_${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    ...SHAPE,
    CHAOS_TEAM: '1',
    ARTIFACT_BUCKET: s3.bucket,
    ARTIFACT_PREFIX: `chaos-${id}`,
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    DATABASE_URL: pg.url,
    CAIRN_SCHEMA: `chaos_${id}`,
    REDIS_URL: redis.url,
    CHAOS_QUEUE: `chaos-${id}`,
  };
  let worker: Running | undefined;
  const startWorker = () => {
    worker = start(['worker', '--env', 'team', '--concurrency', '2'], project, { env });
    workers.push(worker);
  };
  startWorker();
  return {
    project,
    env,
    /** `cairn run --env team --json`; `onEvent` may inject the fault. */
    run: (onEvent?: (event: CairnEvent, running: Running) => void) =>
      start(['run', '--env', 'team', '--json'], project, { env, ...(onEvent ? { onEvent } : {}) }),
    /** The runs in this project's PostgreSQL schema, newest first (`cairn runs` reads only the local stack). */
    runs: async () => {
      const metadata = postgresMetadata({ url: pg.url, schema: env.CAIRN_SCHEMA! });
      try {
        return await metadata.listRuns({ limit: 1000 });
      } finally {
        await metadata.close?.();
      }
    },
    stop: async () => {
      worker!.child.kill('SIGTERM');
      return worker!.done;
    },
  };
}

let reference: Outputs;
/** Every worker started, stopped after each test whatever its outcome. */
const workers: Running[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  }
});

/**
 * After the fault: the faulted run ended `failed` or succeeded; the next run resumes without
 * re-running a step that finished, ends with the reference digests; nothing is `running`;
 * a run after that executes nothing (every object is still in S3 and verifies).
 */
async function resumesCleanly(team: Awaited<ReturnType<typeof teamProject>>, faulted: CairnEvent[]) {
  const finished = new Set(finishedSteps(faulted));
  const resumed = await team.run().done;
  expect(resumed.code, resumed.stderr).toBe(0);
  const rerun = resumed.events.flatMap((e) =>
    e.type === 'step.started' && finished.has(e.step) ? [e.step] : [],
  );
  expect(rerun).toEqual([]);
  expect(outputsOf(resumed.events)).toEqual(reference);
  const runs = await team.runs();
  expect(runs.filter((r) => r.status === 'running')).toEqual([]);
  expect(runs[0]!.status).toBe('succeeded');
  for (const r of runs.slice(1)) expect(['failed', 'succeeded']).toContain(r.status);
  const again = await team.run().done;
  expect(again.code, again.stderr).toBe(0);
  expect(again.events.filter((e) => e.type === 'step.started')).toEqual([]);
  expect(outputsOf(again.events)).toEqual(reference);
}

/** Inject `fault` once `after` steps of the run succeeded; returns the faulted run's events. */
async function faultAfter(
  team: Awaited<ReturnType<typeof teamProject>>,
  after: number,
  fault: (running: Running) => Promise<void>,
): Promise<{ events: CairnEvent[]; code: number | null; injected: boolean }> {
  let succeeded = 0;
  let injecting: Promise<void> | undefined;
  const running = team.run((event, r) => {
    if (event.type === 'step.succeeded' && ++succeeded === after) injecting = fault(r);
  });
  const result = await running.done;
  await injecting;
  const finished = result.events.find((e) => e.type === 'run.finished');
  const said = finished ? `${finished.status} ${finished.error ?? ''}` : 'no run.finished';
  console.log(
    `faulted run: exit ${result.code ?? result.signal}, ${said}; stderr: ${result.stderr.trim().slice(-600)}`,
  );
  return { events: result.events, code: result.code, injected: injecting !== undefined };
}

describe('run-level faults on the team stack (PostgreSQL, radosgw, Redis workers)', () => {
  beforeAll(async () => {
    // The digests an uninterrupted run makes: the same pipeline on the local stack.
    const project = await chaosProject('fault-reference');
    const result = await start(['run', '--json'], project, { env: SHAPE }).done;
    expect(result.code, result.stderr).toBe(0);
    reference = outputsOf(result.events);
  });

  it('a run step by step, one `cairn step exec` process per step as a cluster engine runs it, gives the digests of one run', async () => {
    const team = await teamProject('step-exec');
    const created = await cairn(['run', '--create', '--env', 'team', '--json'], team.project, team.env);
    expect(created.code, created.stderr).toBe(0);
    const { runId, steps } = JSON.parse(created.stdout) as { runId: string; steps: string[] };
    expect([...steps].sort()).toEqual(Object.keys(reference).sort());
    // In the DAG order the run was created with, each step its own process, inputs from S3, records in PostgreSQL.
    for (const step of steps) {
      const exec = await cairn(
        ['step', 'exec', '--run', runId, '--step', step, '--env', 'team'],
        team.project,
        team.env,
      );
      expect(exec.code, `${step}: ${exec.stderr}`).toBe(0);
    }
    // An engine's retry of a finished step changes nothing.
    const retry = await cairn(
      ['step', 'exec', '--run', runId, '--step', steps[0]!, '--env', 'team', '--json'],
      team.project,
      team.env,
    );
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout.trim().split('\n').at(-1)!).outcome.status).toBe('done');

    const metadata = postgresMetadata({ url: pg.url, schema: team.env.CAIRN_SCHEMA! });
    try {
      expect((await metadata.getRun(runId))?.status).toBe('succeeded');
      const executions = await metadata.listExecutions(runId);
      const outputs: Outputs = {};
      for (const e of executions)
        outputs[e.step] = Object.fromEntries(Object.entries(e.outputs).map(([k, v]) => [k, v.digest]));
      expect(outputs).toEqual(reference);
      expect(executions).toHaveLength(steps.length);
      // Lineage: each step's inputs are the outputs its upstream steps recorded in this run.
      const produced = new Set(executions.flatMap((e) => Object.values(e.outputs).map((ref) => ref.digest)));
      for (const e of executions)
        for (const ref of Object.values(e.inputs)) expect(produced).toContain(ref.digest);
    } finally {
      await metadata.close?.();
    }
    await team.stop();
  });

  it('PostgreSQL restarted mid-run: the run ends failed or finishes, and the next one resumes', async () => {
    const team = await teamProject('pg-restart');
    const faulted = await faultAfter(team, 2, async () => {
      await stopPostgres();
      await startPostgres();
    });
    expect(faulted.injected).toBe(true);
    await resumesCleanly(team, faulted.events);
    expect(await team.stop()).toMatchObject({ code: 0 });
  });

  it('S3 gone mid-run: the run ends failed; with S3 back, the next run resumes', async () => {
    const team = await teamProject('s3-outage');
    const s3 = inject('s3');
    let faulted: Awaited<ReturnType<typeof faultAfter>>;
    try {
      faulted = await faultAfter(team, 2, async () => {
        await run('bash', [s3.script, 'stop-gateway', s3.dir]);
      });
    } finally {
      await run('bash', [s3.script, 'start-gateway', s3.dir]);
    }
    expect(faulted.injected).toBe(true);
    expect(faulted.code).toBe(1);
    expect((await team.runs())[0]!.status).toBe('failed');
    await resumesCleanly(team, faulted.events);
    expect(await team.stop()).toMatchObject({ code: 0 });
  });

  it('Redis restarted mid-run (its queue lost): the run ends failed or finishes, and the next one resumes', async () => {
    const team = await teamProject('redis-restart');
    const faulted = await faultAfter(team, 2, async () => {
      await stopRedis();
      await startRedis();
    });
    expect(faulted.injected).toBe(true);
    await resumesCleanly(team, faulted.events);
    await team.stop();
  });

  it('the coordinator killed while workers run: the next run marks it failed and resumes', async () => {
    const team = await teamProject('coordinator-kill');
    const faulted = await faultAfter(team, 2, async (running) => {
      running.child.kill('SIGKILL');
    });
    expect(faulted.injected).toBe(true);
    // Until a lease says so, the dead coordinator's run stays `running`; the next run on this host marks it.
    await resumesCleanly(team, faulted.events);
    const runs = await team.runs();
    expect(runs.at(-1)!.status).toBe('failed');
    expect(runs.at(-1)!.error).toMatch(/abandoned/);
    expect(await team.stop()).toMatchObject({ code: 0 });
  });
});
