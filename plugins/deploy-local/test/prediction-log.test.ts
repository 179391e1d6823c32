/**
 * The prediction log on its own: the bytes of each batch (one line per row,
 * the JSON of its ServedRow), and what happens to rows of a batch that fails
 * to write while newer rows arrive (back in front, within maxPendingRows).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelVersionRef, StorageDriver } from '@cairn/core';
import { memoryStore } from '@cairn/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BATCH_BYTES,
  listPredictionBatches,
  PredictionLog,
  type PredictionLogSettings,
  type ServedRow,
  servedRows,
} from '../src/prediction-log';

let root: string;
let dirs = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-prediction-log-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const ref = (version: number): ModelVersionRef => ({
  model: 'iris "v"',
  version,
  digest: `sha256:${String(version).repeat(64)}`,
});

function counting() {
  const counts = { logged: 0, dropped: 0 };
  return {
    counts,
    counters: {
      logged: (rows: number) => {
        counts.logged += rows;
      },
      dropped: (rows: number) => {
        counts.dropped += rows;
      },
    },
  };
}

function settings(overrides: Partial<PredictionLogSettings> = {}): PredictionLogSettings {
  return { sample: 1, batchRows: 1000, flushIntervalMs: 3_600_000, maxPendingRows: 10_000, ...overrides };
}

/** The text of every batch of an endpoint, in order. */
async function batchText(storage: StorageDriver, stateDir: string, endpoint: string): Promise<string> {
  let text = '';
  for (const batch of await listPredictionBatches(stateDir, endpoint)) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of await storage.get(batch.digest)) chunks.push(chunk);
    text += Buffer.concat(chunks).toString('utf8');
  }
  return text;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PredictionLog', () => {
  it('writes each row as the JSON of its ServedRow, one line per row, whatever the text and size', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const { counts, counters } = counting();
    const log = new PredictionLog(storage, stateDir, settings(), counters);
    const v1 = ref(1);
    const v2 = ref(2);
    const big = 'é😀'.repeat(40_000); // 240,000 bytes of UTF-8: more than a batch buffer starts with
    const requests: Array<{
      model: ModelVersionRef;
      role: 'primary' | 'canary';
      revision: number;
      unitId?: string;
      rows: unknown[];
      predictions: unknown[];
    }> = [
      { model: v1, role: 'primary', revision: 3, rows: [[1, 2.5]], predictions: [3.5] },
      {
        model: v2,
        role: 'canary',
        revision: 3,
        unitId: 'user "7"\n',
        rows: [{ text: 'line\nbreak "quoted" \u2028 \\ ü' }, [big], null],
        predictions: ['ünïcode', { p: [0.1, 0.9] }, undefined],
      },
      { model: v1, role: 'primary', revision: 4, rows: [[]], predictions: [false] },
    ];
    const expected: Array<Omit<ServedRow, 'at'>> = [];
    for (const r of requests) {
      log.offer('shop', r.model, r.role, r.revision, r.unitId, r.rows, r.predictions);
      r.rows.forEach((row, i) => {
        expected.push({
          endpoint: 'shop',
          model: r.model.model,
          version: r.model.version,
          role: r.role,
          revision: r.revision,
          ...(r.unitId !== undefined ? { unitId: r.unitId } : {}),
          row,
          prediction: r.predictions[i],
        });
      });
    }
    await log.close();
    expect(counts).toEqual({ logged: 5, dropped: 0 });

    const text = await batchText(storage, stateDir, 'shop');
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(5);
    const ats = lines.map((line) => (JSON.parse(line) as ServedRow).at);
    // Byte for byte what JSON.stringify makes of the whole row (members in ServedRow's order; undefined left out).
    expect(lines).toEqual(expected.map((row, i) => JSON.stringify({ at: ats[i], ...row })));
    for (const at of ats) expect(new Date(at).toISOString()).toBe(at);

    const [batch] = await listPredictionBatches(stateDir, 'shop');
    expect(batch).toMatchObject({ rows: 5, from: ats[0], to: ats[4], versions: { 1: 2, 2: 3 } });
    expect(batch!.size).toBe(Buffer.byteLength(text));
    const read = await servedRows({ storage, stateDir }, 'shop');
    expect(read.map(({ at: _, ...rest }) => rest)).toEqual(
      expected.map((row) => JSON.parse(JSON.stringify(row)) as typeof row),
    );
  });

  it('times each line exactly as toISOString does, across seconds, years, a clock stepped back and six-digit years', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(storage, stateDir, settings());
    // Milliseconds of one, two and three digits, the turn of a second, a minute, a year; the same
    // second again after another (a clock stepped back); a year past 9999 (a longer ISO form).
    const times = [
      '1999-12-31T23:59:59.999Z',
      '2000-01-01T00:00:00.000Z',
      '2000-01-01T00:00:00.007Z',
      '2000-01-01T00:00:00.042Z',
      '2000-01-01T00:00:01.100Z',
      '2000-01-01T00:00:00.500Z',
      '2026-12-06T01:59:59.010Z',
      '2026-12-06T02:00:00.001Z',
      '+010000-01-01T00:00:00.005Z',
    ].map((iso) => Date.parse(iso));
    let now = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    times.forEach((ms, i) => {
      now = ms;
      log.offer('shop', ref(1), 'primary', 1, undefined, [[i]], [i]);
    });
    vi.restoreAllMocks();
    await log.close();
    const served = await servedRows({ storage, stateDir }, 'shop');
    expect(served.map((row) => row.at)).toEqual(times.map((ms) => new Date(ms).toISOString()));
  });

  it('begins each line with the millisecond it was answered in and its own route, however routes interleave', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(storage, stateDir, settings());
    const v1 = ref(1);
    const v2 = ref(2);
    let now = Date.parse('2026-01-02T03:04:05.006Z');
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    // Two routes in one millisecond, the same model on two endpoints, then the next milliseconds.
    const offers: Array<[number, string, ModelVersionRef, 'primary' | 'canary', number]> = [
      [0, 'shop', v1, 'primary', 1],
      [0, 'shop', v2, 'canary', 1],
      [0, 'shop', v1, 'primary', 1],
      [0, 'other', v1, 'primary', 1],
      [0, 'shop', v1, 'primary', 1],
      [1, 'shop', v1, 'primary', 1],
      [1, 'shop', v1, 'primary', 2],
      [3, 'shop', v2, 'canary', 2],
      [3, 'shop', v1, 'primary', 2],
    ];
    const start = now;
    offers.forEach(([ms, endpoint, model, role, revision], i) => {
      now = start + ms;
      log.offer(endpoint, model, role, revision, undefined, [[i]], [i]);
    });
    vi.restoreAllMocks();
    await log.close();
    const served = [
      ...(await servedRows({ storage, stateDir }, 'shop')),
      ...(await servedRows({ storage, stateDir }, 'other')),
    ].sort((a, b) => (a.prediction as number) - (b.prediction as number));
    expect(served).toEqual(
      offers.map(([ms, endpoint, model, role, revision], i) => ({
        at: new Date(start + ms).toISOString(),
        endpoint,
        model: model.model,
        version: model.version,
        role,
        revision,
        row: [i],
        prediction: i,
      })),
    );
  });

  it('writes a batch once it holds BATCH_BYTES, before batchRows rows', async () => {
    const inner = memoryStore();
    const puts: number[] = [];
    const storage: StorageDriver = {
      ...inner,
      put: (source, options) => {
        puts.push((source as Uint8Array).byteLength);
        return inner.put(source, options);
      },
    };
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(
      storage,
      stateDir,
      settings({ batchRows: 1_000_000, maxPendingRows: 1_000_000 }),
    );
    const wide = 'x'.repeat(Math.ceil(BATCH_BYTES / 4));
    for (let i = 0; i < 3; i++) log.offer('shop', ref(1), 'primary', 1, undefined, [wide], [i]);
    expect(puts).toEqual([]);
    log.offer('shop', ref(1), 'primary', 1, undefined, [wide], [3]);
    // The fourth row passes BATCH_BYTES: its batch is on its way to storage before offer returns.
    expect(puts).toHaveLength(1);
    expect(puts[0]).toBeGreaterThanOrEqual(BATCH_BYTES);
    log.offer('shop', ref(1), 'primary', 1, undefined, [[4]], [4]);
    await log.close();
    expect((await listPredictionBatches(stateDir, 'shop')).map((batch) => batch.rows)).toEqual([4, 1]);
  });

  it('fills a later batch in the buffer of one already stored, and every batch keeps its own rows', async () => {
    const inner = memoryStore();
    const buffers: ArrayBufferLike[] = [];
    const storage: StorageDriver = {
      ...inner,
      put: (source, options) => {
        buffers.push((source as Uint8Array).buffer);
        return inner.put(source, options);
      },
    };
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(storage, stateDir, settings({ batchRows: 3 }));
    const rows = Array.from({ length: 12 }, (_, i) => [i, `row ${i}`]);
    for (let i = 0; i < rows.length; i++) {
      log.offer('shop', ref(1), 'primary', 1, undefined, [rows[i]], [i * 10]);
      // Each batch stored before the next fills: its buffer is free for the one after.
      await log.flush();
    }
    await log.close();
    expect(buffers.length).toBeGreaterThanOrEqual(4);
    // Fresh memory for the first batches only, then the stored ones' buffers again.
    expect(new Set(buffers).size).toBeLessThan(buffers.length);
    const lines = (await batchText(storage, stateDir, 'shop')).trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line) as ServedRow).map((r) => [r.row, r.prediction])).toEqual(
      rows.map((row, i) => [row, i * 10]),
    );
  });

  it('puts a failed batch back in front of newer rows, within maxPendingRows, dropping and counting the rest', async () => {
    const inner = memoryStore();
    let release: ((ok: boolean) => void) | undefined;
    let puts = 0;
    // The first write waits until the test lets it fail; later ones go through.
    const storage: StorageDriver = {
      ...inner,
      put: async (source, options) => {
        if (puts++ === 0) {
          const ok = await new Promise<boolean>((resolve) => {
            release = resolve;
          });
          if (!ok) throw new Error('storage is down');
        }
        return inner.put(source, options);
      },
    };
    const stateDir = join(root, `state-${++dirs}`);
    const { counts, counters } = counting();
    const log = new PredictionLog(storage, stateDir, settings({ batchRows: 4, maxPendingRows: 6 }), counters);
    const offer = (model: ModelVersionRef, ...values: number[]) =>
      log.offer(
        'shop',
        model,
        'primary',
        1,
        undefined,
        values.map((v) => [v]),
        values,
      );
    offer(ref(1), 0, 1);
    offer(ref(2), 2, 3); // 4 rows: a batch starts writing, and waits
    await expect.poll(() => release).toBeDefined();
    offer(ref(2), 4);
    offer(ref(1), 5, 6); // 3 newer rows wait meanwhile
    release!(false);
    // The 4 failed rows go back in front; 3 fit beside the newer 3 (maxPendingRows 6), the last is dropped.
    await expect.poll(() => counts.dropped).toBe(1);
    await log.close();
    expect(counts).toEqual({ logged: 6, dropped: 1 });
    const rows = await servedRows({ storage, stateDir }, 'shop');
    expect(rows.map((row) => row.prediction)).toEqual([0, 1, 2, 4, 5, 6]);
    expect(rows.map((row) => row.version)).toEqual([1, 1, 2, 2, 1, 1]);
    const batches = await listPredictionBatches(stateDir, 'shop');
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({
      rows: 6,
      versions: { 1: 4, 2: 2 },
      from: rows[0]!.at,
      to: rows[5]!.at,
    });
  });

  it('on close, counts the rows storage refuses as dropped and says so with CAIRN_STORAGE_FAILED', async () => {
    const inner = memoryStore();
    const storage: StorageDriver = {
      ...inner,
      put: async () => {
        throw new Error('read-only file system');
      },
    };
    const { counts, counters } = counting();
    const log = new PredictionLog(storage, join(root, `state-${++dirs}`), settings(), counters);
    for (let i = 0; i < 5; i++) log.offer('shop', ref(1), 'primary', 1, undefined, [[i]], [i]);
    const closing = log.close();
    await expect(closing).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FAILED' });
    await expect(closing).rejects.toThrow(/5 logged row\(s\) could not be written.*read-only file system/);
    expect(counts).toEqual({ logged: 0, dropped: 5 });
  });

  it('a flush after a failed background write writes the rows it put back', async () => {
    const inner = memoryStore();
    let fail = true;
    const storage: StorageDriver = {
      ...inner,
      put: async (source, options) => {
        if (fail) throw new Error('storage is down');
        return inner.put(source, options);
      },
    };
    const stateDir = join(root, `state-${++dirs}`);
    const { counts, counters } = counting();
    const log = new PredictionLog(storage, stateDir, settings({ batchRows: 2 }), counters);
    log.offer('shop', ref(1), 'primary', 1, undefined, [[1], [2]], [1, 2]); // a full batch: written now, and fails
    fail = false;
    await log.flush();
    await log.close();
    expect(counts).toEqual({ logged: 2, dropped: 0 });
    expect((await servedRows({ storage, stateDir }, 'shop')).map((row) => row.prediction)).toEqual([1, 2]);
  });

  it('drops and counts a row JSON cannot hold once, keeps the others, and never throws', async () => {
    const inner = memoryStore();
    let puts = 0;
    // Rows are serialized when offered: the bad ones are dropped and counted then, and a batch
    // that fails to write comes back without them (counted once, not again).
    const storage: StorageDriver = {
      ...inner,
      put: (source, options) =>
        puts++ === 0 ? Promise.reject(new Error('storage is down')) : inner.put(source, options),
    };
    const stateDir = join(root, `state-${++dirs}`);
    const { counts, counters } = counting();
    const log = new PredictionLog(storage, stateDir, settings(), counters);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() =>
      log.offer('shop', ref(1), 'primary', 1, 'u1', [[1], [2n], cycle, [4]], [1, 2, 3, 4n]),
    ).not.toThrow();
    expect(counts).toEqual({ logged: 0, dropped: 3 });
    await expect(log.flush()).rejects.toThrow(/storage is down/);
    expect(counts).toEqual({ logged: 0, dropped: 3 });
    await log.close();
    expect(counts).toEqual({ logged: 1, dropped: 3 });
    expect((await servedRows({ storage: inner, stateDir }, 'shop')).map((row) => row.row)).toEqual([[1]]);
  });

  it('logs a row as it was answered, whatever the caller does with it afterwards', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(storage, stateDir, settings());
    const row = { petal: 1.5 };
    const predictions = ['setosa'];
    log.offer('shop', ref(1), 'primary', 1, undefined, [row], predictions);
    row.petal = 99;
    predictions[0] = 'changed';
    await log.close();
    const [logged] = await servedRows({ storage, stateDir }, 'shop');
    expect(logged).toMatchObject({ row: { petal: 1.5 }, prediction: 'setosa' });
  });

  it('takes no rows once closed, and holds at most maxPendingRows', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const { counts, counters } = counting();
    // Never flushed by size (batchRows above the bound): the bound alone decides.
    const log = new PredictionLog(
      storage,
      stateDir,
      settings({ batchRows: 10, maxPendingRows: 10 }),
      counters,
    );
    for (let i = 0; i < 3; i++)
      log.offer('shop', ref(1), 'primary', 1, undefined, [[i], [i], [i]], [i, i, i]);
    log.offer('shop', ref(1), 'primary', 1, undefined, [[9], [9], [9]], [9, 9, 9]); // 1 fits, 2 dropped
    await log.close();
    log.offer('shop', ref(1), 'primary', 1, undefined, [[7]], [7]);
    await log.flush();
    expect(counts).toEqual({ logged: 10, dropped: 2 });
    expect((await servedRows({ storage, stateDir }, 'shop')).map((row) => row.prediction)).toEqual([
      0, 0, 0, 1, 1, 1, 2, 2, 2, 9,
    ]);
  });

  it('fsyncs its lists once, on close, skipping a list removed meanwhile', async () => {
    const storage = memoryStore();
    const stateDir = join(root, `state-${++dirs}`);
    const log = new PredictionLog(storage, stateDir, settings({ batchRows: 2 }));
    for (let i = 0; i < 5; i++) log.offer(`shop${i % 2}`, ref(1), 'primary', 1, undefined, [[i]], [i]);
    await log.flush();
    expect((await listPredictionBatches(stateDir, 'shop0')).map((b) => b.rows)).not.toEqual([]);
    // The lists are fsynced on close: one removed meanwhile is skipped, not an error.
    await rm(join(stateDir, 'deployments', 'prediction-log', 'shop1.jsonl'));
    log.offer('shop0', ref(1), 'primary', 1, undefined, [[5]], [5]);
    await expect(log.close()).resolves.toBeUndefined();
    expect((await servedRows({ storage, stateDir }, 'shop0')).map((row) => row.prediction)).toEqual([
      0, 2, 4, 5,
    ]);
  });
});
