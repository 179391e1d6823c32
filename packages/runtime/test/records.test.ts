import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent, ExecutionRecord, MetadataStore } from '@cairn/core';
import { deferredSyncOf, localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_WAITING_RECORDS, RecordQueue } from '../src/orchestrator/records';
import { numbers } from './fixtures/steps';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-records-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A metadata store whose commits take a while (as a real one's do) and that
 * remembers which executions it has committed, so a test can ask, at the
 * moment an event arrives, whether the store already has the step.
 */
function slowMetadata(options: { refuse?: (execution: ExecutionRecord) => boolean } = {}) {
  const inner = memoryMetadata();
  const committed = new Set<string>();
  const store: MetadataStore = {
    ...inner,
    async recordExecution(execution, artifacts) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (options.refuse?.(execution)) throw new Error(`refused ${execution.step}`);
      await inner.recordExecution(execution, artifacts);
      committed.add(`${execution.runId}/${execution.step}`);
    },
  };
  return { store, committed };
}

describe('execution records written behind', () => {
  it('delivers every step event only once its record is committed, in order, cold and cached', async () => {
    const { store, committed } = slowMetadata();
    const storage = localStore(join(dir, 'artifacts'));
    for (const round of ['cold', 'cached']) {
      const seen: string[] = [];
      const early: string[] = [];
      const result = await runPipeline(numbers, {
        storage,
        metadata: store,
        projectDir: dir,
        configs: { source: { n: 3 } },
        onEvent: (event: CairnEvent) => {
          seen.push(event.type);
          if (
            event.type === 'step.cached' ||
            event.type === 'step.succeeded' ||
            event.type === 'artifact.written'
          ) {
            if (!committed.has(`${event.runId}/${event.step}`)) early.push(`${event.type} ${event.step}`);
          }
        },
      });
      expect(result.status, round).toBe('succeeded');
      expect(early, round).toEqual([]);
      expect(seen[0]).toBe('run.started');
      expect(seen.at(-1)).toBe('run.finished');
      // Every record is in the store once runPipeline returns.
      const executions = await store.listExecutions(result.runId);
      expect(executions.map((e) => e.step).sort()).toEqual(['other', 'power', 'source', 'total']);
      expect(executions.every((e) => e.status === (round === 'cold' ? 'succeeded' : 'cached'))).toBe(true);
    }
  });

  it('fails the run when the store refuses a record, and delivers no event for it', async () => {
    const { store } = slowMetadata({ refuse: (execution) => execution.step === 'power' });
    const events: CairnEvent[] = [];
    await expect(
      runPipeline(numbers, {
        storage: memoryStore(),
        metadata: store,
        projectDir: dir,
        configs: { source: { n: 3 } },
        onEvent: (event) => events.push(event),
      }),
    ).rejects.toThrow('refused power');
    expect(events.some((e) => e.type === 'step.succeeded' && e.step === 'power')).toBe(false);
    expect(events.some((e) => e.type === 'step.succeeded' && e.step === 'source')).toBe(true);
  });
});

describe('deferredSyncOf', () => {
  it('gives a local store a view whose puts are readable at once and syncs them on request', async () => {
    const store = localStore(join(dir, 'artifacts'));
    const deferred = deferredSyncOf(store)!;
    expect(deferred).toBeDefined();
    const bytes = new TextEncoder().encode('{"v":1}');
    const { digest } = await deferred.storage.put(bytes);
    // Visible and complete through the store itself before any sync.
    expect(await store.verify(digest)).toBe('ok');
    const path = (await store.localPath!(digest))!;
    expect(await readFile(path, 'utf8')).toBe('{"v":1}');
    await deferred.sync([digest]);
    await deferred.sync();
    // A durable put of the same bytes returns the same object.
    expect((await store.put(bytes, { expectedDigest: digest })).digest).toBe(digest);
  });

  it('leaves other stores alone', () => {
    expect(deferredSyncOf(memoryStore())).toBeUndefined();
  });
});

describe('RecordQueue.room', () => {
  it('lets steps go on while few records wait, and holds them once too many wait, until half are committed', async () => {
    const releases: Array<() => void> = [];
    const metadata = {
      recordExecution: () => new Promise<void>((resolve) => releases.push(resolve)),
    } as unknown as MetadataStore;
    const queue = new RecordQueue(metadata, () => {});
    const record = (i: number) => queue.record({ id: `e${i}`, step: `s${i}` } as ExecutionRecord, []);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < MAX_WAITING_RECORDS - 1; i++) record(i);
    expect(queue.room()).toBeUndefined();
    record(MAX_WAITING_RECORDS - 1);
    const room = queue.room();
    expect(room).toBeInstanceOf(Promise);
    let roomy = false;
    void room!.then(() => {
      roomy = true;
    });
    // Every waiting record is with the store now, none left for the batch timer.
    await turn();
    expect(releases.length).toBe(MAX_WAITING_RECORDS);
    for (const release of releases.splice(0, MAX_WAITING_RECORDS / 2 - 1)) release();
    await turn();
    expect(roomy).toBe(false);
    releases.shift()!();
    await turn();
    expect(roomy).toBe(true);
    expect(queue.room()).toBeUndefined();
    for (const release of releases.splice(0)) release();
    await queue.settle();
  });
});
