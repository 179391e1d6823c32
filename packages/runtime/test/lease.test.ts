import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CairnError,
  type CairnEvent,
  type MetadataStore,
  type RunRecord,
  type StorageDriver,
} from '@cairn/core';
import { localStore, markAbandonedRuns, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leased, releaseHold } from './fixtures/leased';

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-lease-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
let n = 0;
function running(patch: Partial<RunRecord>): RunRecord {
  return {
    id: `r_${String(++n).padStart(6, '0')}`,
    pipeline: 'p',
    env: 'team',
    status: 'running',
    startedAt: at(0),
    versions: {},
    configs: {},
    ...patch,
  };
}
/** The PID of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

/** Poll `check` until it holds; the test's own timeout bounds it. */
async function until<T>(check: () => Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('markAbandonedRuns', () => {
  it('fails a run of another host once its lease expired, naming the host and the last heartbeat', async () => {
    const expired = running({
      host: { hostname: 'host-a', pid: 4242 },
      lease: { heartbeatAt: at(0), expiresAt: at(60) },
    });
    await metadata.createRun(expired);
    // Before expiry nothing happens; the judge's clock is given, so the test does not wait.
    expect(await markAbandonedRuns(metadata, { now: new Date(T0 + 59_000) })).toEqual([]);
    expect((await metadata.getRun(expired.id))?.status).toBe('running');
    expect(await markAbandonedRuns(metadata, { now: new Date(T0 + 61_000) })).toEqual([expired.id]);
    const judged = await metadata.getRun(expired.id);
    expect(judged?.status).toBe('failed');
    expect(judged?.finishedAt).toBe(at(61));
    expect(judged?.error).toBe(
      `abandoned: no heartbeat from process 4242 on host-a since ${at(0)} (its lease expired at ${at(60)})`,
    );
  });

  it('leaves alone a run of another host whose lease is fresh, and one recorded without a lease', async () => {
    const fresh = running({
      host: { hostname: 'host-a', pid: 1 },
      lease: { heartbeatAt: at(100), expiresAt: at(160) },
    });
    const legacy = running({ host: { hostname: 'host-a', pid: 1 } });
    await metadata.createRun(fresh);
    await metadata.createRun(legacy);
    expect(await markAbandonedRuns(metadata, { now: new Date(T0 + 150_000) })).toEqual([]);
    expect((await metadata.getRun(fresh.id))?.status).toBe('running');
    expect((await metadata.getRun(legacy.id))?.status).toBe('running');
  });

  it('on this host, fails a run whose process is gone at once, before its lease expires', async () => {
    const pid = deadPid();
    const gone = running({
      host: { hostname: hostname(), pid },
      lease: { heartbeatAt: at(0), expiresAt: at(60) },
    });
    const alive = running({
      host: { hostname: hostname(), pid: process.ppid },
      lease: { heartbeatAt: at(0), expiresAt: at(60) },
    });
    await metadata.createRun(gone);
    await metadata.createRun(alive);
    expect(await markAbandonedRuns(metadata, { now: new Date(T0 + 1_000) })).toEqual([gone.id]);
    expect((await metadata.getRun(gone.id))?.error).toBe(
      `abandoned: process ${pid} on ${hostname()} ended without finishing the run`,
    );
    expect((await metadata.getRun(alive.id))?.status).toBe('running');
  });

  it('does not stop at the first page of running runs', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 130; i++) {
      const run = running({
        host: { hostname: 'host-a', pid: 1 },
        lease: { heartbeatAt: at(0), expiresAt: at(1) },
      });
      ids.push(run.id);
      await metadata.createRun(run);
    }
    expect((await markAbandonedRuns(metadata, { now: new Date(T0 + 2_000) })).sort()).toEqual(ids);
  });
});

describe('a run and its lease', () => {
  it('records a lease, renews it while it runs, and is never judged by the process that drives it', async () => {
    const events: CairnEvent[] = [];
    const result = runPipeline(leased, {
      storage,
      metadata,
      projectDir: dir,
      configs: { hold: { wait: true } },
      lease: { renewMs: 20, durationMs: 1_000 },
      onEvent: (event) => events.push(event),
    });
    const started = await until(async () =>
      events.find((e) => e.type === 'step.started' && e.step === 'hold'),
    );
    const runId = started.runId;
    const first = (await metadata.getRun(runId))!.lease!;
    expect(Date.parse(first.expiresAt) - Date.parse(first.heartbeatAt)).toBe(1_000);
    const renewed = await until(async () => {
      const lease = (await metadata.getRun(runId))?.lease;
      return lease && lease.heartbeatAt > first.heartbeatAt && lease;
    });
    expect(Date.parse(renewed.expiresAt) - Date.parse(renewed.heartbeatAt)).toBe(1_000);
    // Even a judge whose clock is past every lease leaves the runs this process drives alone.
    expect(
      await markAbandonedRuns(metadata, { now: new Date(Date.parse(renewed.expiresAt) + 3_600_000) }),
    ).toEqual([]);
    releaseHold();
    expect((await result).status).toBe('succeeded');
    expect((await metadata.getRun(runId))?.status).toBe('succeeded');
  });

  it('a run judged abandoned while it was alive still records how it ended', async () => {
    const events: CairnEvent[] = [];
    const result = runPipeline(leased, {
      storage,
      metadata,
      projectDir: dir,
      configs: { hold: { wait: true } },
      lease: { renewMs: 20, durationMs: 1_000 },
      onEvent: (event) => events.push(event),
    });
    const started = await until(async () =>
      events.find((e) => e.type === 'step.started' && e.step === 'hold'),
    );
    // What another host would do after a long pause of this process.
    expect(
      await metadata.abandonRun(started.runId, {
        finishedAt: new Date().toISOString(),
        error: 'abandoned: test',
      }),
    ).toBe(true);
    releaseHold();
    expect((await result).status).toBe('succeeded');
    expect((await metadata.getRun(started.runId))?.status).toBe('succeeded');
  });

  it('refuses lease timings that would make a live run look abandoned, before anything is recorded', async () => {
    for (const lease of [{ renewMs: 0 }, { renewMs: 1.5 }, { renewMs: 5_000, durationMs: 5_000 }]) {
      const error = await runPipeline(leased, {
        storage,
        metadata,
        projectDir: dir,
        configs: { hold: { wait: false } },
        lease,
      }).catch((e: unknown) => e);
      expect(CairnError.is(error) && error.code).toBe('CAIRN_CONFIG_INVALID');
    }
    expect(await metadata.listRuns()).toEqual([]);
  });
});

describe('why each execution ran', () => {
  it('is recorded with the execution, in the words of the step.started event', async () => {
    const run = (wait: boolean, onEvent?: (event: CairnEvent) => void) =>
      runPipeline(leased, {
        storage,
        metadata,
        projectDir: dir,
        configs: { hold: { wait } },
        ...(onEvent ? { onEvent } : {}),
      });
    const reasons = async (runId: string) =>
      Object.fromEntries((await metadata.listExecutions(runId)).map((e) => [e.step, e.reason]));
    const events: CairnEvent[] = [];
    const firstRun = await run(false, (event) => events.push(event));
    expect(await reasons(firstRun.runId)).toEqual({ first: 'new', hold: 'new' });
    const said = events.flatMap((e) => (e.type === 'step.started' ? [[e.step, e.reason]] : []));
    expect(Object.fromEntries(said)).toEqual(await reasons(firstRun.runId));
    const again = await run(false);
    expect(await reasons(again.runId)).toEqual({ first: 'cached', hold: 'cached' });
    const changed = await runPipeline(leased, {
      storage,
      metadata,
      projectDir: dir,
      configs: { hold: { wait: false, note: 'changed' } },
      force: ['first'],
    });
    expect(await reasons(changed.runId)).toEqual({ first: 'forced', hold: 'config-changed' });
  });
});
