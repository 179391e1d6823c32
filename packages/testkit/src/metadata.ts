/**
 * The conformance suite for metadata stores. Every `MetadataStore` — the
 * in-memory one, SQLite, PostgreSQL, a platform team's own — calls
 * `testMetadata` in its tests and must pass every case.
 *
 * Semantics the suite pins down where the contract's words leave room:
 * - `listRuns` orders by run id, descending (ids are time-ordered), and
 *   `before` keeps ids strictly lower.
 * - Lineage edges come from every recorded execution's `inputs` (artifact →
 *   execution, kind `input`) and `outputs` (execution → artifact, kind
 *   `output`), whatever its status. `depth` counts executions: one level up
 *   from an artifact is its producers with their inputs; one level down is
 *   its consumers with their outputs. `both` is the union of `up` and `down`
 *   (it never goes up and then down to siblings). For a run id, the run's own
 *   executions with their inputs and outputs are level 0.
 * - The cache index holds one entry per key: the last recorded execution with
 *   status `succeeded` and `cacheable: true`. `invalidateCache` removes the
 *   entry; older executions under that key do not come back.
 * - Invalid digests are refused with `CAIRN_ARTIFACT_KEY_INVALID` and nothing
 *   is written.
 * - A stage change that archives the previous holder of the stage records
 *   that archiving in the history too.
 *
 * @example
 * ```ts
 * // test/conformance.test.ts
 * import { testMetadata } from '@cairn/testkit';
 * import { sqliteMetadata } from '../src/index';
 * testMetadata({ name: 'sqlite', create: () => sqliteMetadata({ file: tempFile() }) });
 * ```
 */
import {
  type ArtifactRecord,
  type ArtifactRef,
  CairnError,
  type ExecutionRecord,
  type LineageGraph,
  type MetadataStore,
  type ModelStage,
  type RunRecord,
  type StageTransition,
  sha256,
  type TransitionInput,
} from '@cairn/core';
import { planStageTransition } from '@cairn/runtime/plugin-kit';
import { afterEach, describe, expect, it } from 'vitest';

export interface TestMetadataOptions {
  /** Shown in the suite's title. @default the store's `name` */
  name?: string;
  /**
   * Open a new, empty store (a fresh file, schema or database). Called once
   * per test; the suite calls `init()` when present and `close()` after the
   * test.
   */
  create(): MetadataStore | Promise<MetadataStore>;
  /**
   * Open a second handle (connection, process-level client) on the same
   * store as `first`. When given, the suite also checks that two handles see
   * each other's writes and stay correct when used at the same time.
   */
  createSecond?(first: MetadataStore): MetadataStore | Promise<MetadataStore>;
}

// ---------------------------------------------------------------------------
// fixtures

/** A valid digest derived from a label, so tests read as names. */
export const digestOf = (label: string): string => sha256(label);

const T0 = Date.UTC(2025, 0, 1);
/** A deterministic ISO time `n` seconds after a fixed origin. */
const at = (n: number): string => new Date(T0 + n * 1000).toISOString();

const ref = (label: string, type = 'json'): ArtifactRef => ({
  digest: digestOf(label),
  type,
  size: label.length,
});

function runRecord(n: number, patch: Partial<RunRecord> = {}): RunRecord {
  return {
    id: `r_${String(n).padStart(6, '0')}`,
    pipeline: 'training',
    env: 'local',
    status: 'running',
    startedAt: at(n),
    versions: { node: '20.20.0', '@cairn/core': '0.1.0' },
    configs: {},
    ...patch,
  };
}

function artifactRecord(
  label: string,
  producer?: { runId: string; step: string; output: string; executionId: string },
  patch: Partial<ArtifactRecord> = {},
): ArtifactRecord {
  return {
    ...ref(label),
    metadata: { label },
    createdAt: at(100),
    ...(producer ? { producer } : {}),
    ...patch,
  };
}

interface ExecSpec {
  id: string;
  runId: string;
  step: string;
  inputs?: Record<string, string>;
  outputs?: Record<string, string>;
  status?: ExecutionRecord['status'];
  cacheKey?: string;
  cacheable?: boolean;
  cachedFrom?: string;
  at?: number;
}

function executionRecord(spec: ExecSpec): ExecutionRecord {
  const map = (labels: Record<string, string> = {}) =>
    Object.fromEntries(Object.entries(labels).map(([name, label]) => [name, ref(label)]));
  return {
    id: spec.id,
    runId: spec.runId,
    step: spec.step,
    status: spec.status ?? 'succeeded',
    cacheKey: spec.cacheKey ?? `key-${spec.id}`,
    cacheable: spec.cacheable ?? true,
    ...(spec.cachedFrom ? { cachedFrom: spec.cachedFrom } : {}),
    inputs: map(spec.inputs),
    outputs: map(spec.outputs),
    startedAt: at(spec.at ?? 200),
    finishedAt: at((spec.at ?? 200) + 1),
    durationMs: 1000,
    attempts: 1,
  };
}

/** Records an execution with artifact records for all its outputs (produced by it) and inputs. */
async function record(store: MetadataStore, spec: ExecSpec): Promise<ExecutionRecord> {
  const execution = executionRecord(spec);
  const artifacts: ArtifactRecord[] = [];
  for (const [name, label] of Object.entries(spec.outputs ?? {})) {
    artifacts.push(
      artifactRecord(
        label,
        { runId: spec.runId, step: spec.step, output: name, executionId: spec.id },
        { createdAt: at(spec.at ?? 200) },
      ),
    );
  }
  for (const label of Object.values(spec.inputs ?? {})) artifacts.push(artifactRecord(label));
  await store.recordExecution(execution, artifacts);
  return execution;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<CairnError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a CairnError ${code}`).toBeDefined();
  expect(CairnError.is(caught), `expected a CairnError, got ${String(caught)}`).toBe(true);
  expect((caught as CairnError).code).toBe(code);
  return caught as CairnError;
}

const sorted = (values: Iterable<string>) => [...values].sort();
const execIds = (graph: LineageGraph) => sorted(graph.executions.map((e) => e.id));
const artifactDigests = (graph: LineageGraph) => sorted(graph.artifacts.map((a) => a.digest));
const edgeKeys = (graph: LineageGraph) =>
  sorted(graph.edges.map((e) => `${e.kind}:${e.from}->${e.to}:${e.name}`));
const inEdge = (label: string, exec: string, name: string) => `input:${digestOf(label)}->${exec}:${name}`;
const outEdge = (exec: string, label: string, name: string) => `output:${exec}->${digestOf(label)}:${name}`;

/**
 * A three-step chain in run r_000001:
 *   ingest → raw → prepare → train-set → train → model (+ metrics)
 */
async function recordChain(store: MetadataStore): Promise<void> {
  await store.createRun(runRecord(1));
  await record(store, { id: 'e_ingest', runId: 'r_000001', step: 'ingest', outputs: { data: 'raw' }, at: 1 });
  await record(store, {
    id: 'e_prepare',
    runId: 'r_000001',
    step: 'prepare',
    inputs: { data: 'raw' },
    outputs: { train: 'train-set' },
    at: 2,
  });
  await record(store, {
    id: 'e_train',
    runId: 'r_000001',
    step: 'train',
    inputs: { train: 'train-set' },
    outputs: { model: 'model', metrics: 'metrics' },
    at: 3,
  });
}

// ---------------------------------------------------------------------------
// the suite

/** Register the metadata conformance cases for one store implementation. */
export function testMetadata(options: TestMetadataOptions): void {
  describe(`metadata conformance${options.name ? `: ${options.name}` : ''}`, () => {
    const opened: MetadataStore[] = [];

    async function open(): Promise<MetadataStore> {
      const store = await options.create();
      opened.push(store);
      await store.init?.();
      return store;
    }

    async function openSecond(first: MetadataStore): Promise<MetadataStore> {
      const store = await options.createSecond!(first);
      opened.push(store);
      await store.init?.();
      return store;
    }

    afterEach(async () => {
      for (const store of opened.splice(0).reverse()) await store.close?.();
    });

    it('is tagged as a metadata store with a name', async () => {
      const store = await open();
      expect(store.kind).toBe('metadata');
      expect(typeof store.name).toBe('string');
      expect(store.name.length).toBeGreaterThan(0);
    });

    it('has a JSON ref, when it has one, that names a module, an export and options', async () => {
      const store = await open();
      if (store.ref === undefined) return;
      expect(typeof store.ref.module).toBe('string');
      expect(typeof store.ref.export).toBe('string');
      expect(JSON.parse(JSON.stringify(store.ref))).toEqual(store.ref);
    });

    it('init is idempotent', async () => {
      const store = await open();
      await store.init?.();
      await store.init?.();
      await store.createRun(runRecord(1));
      await store.init?.();
      expect(await store.getRun('r_000001')).toBeDefined();
    });

    describe('runs', () => {
      it('creates a run and reads back every field', async () => {
        const store = await open();
        const run = runRecord(1, {
          git: { commit: 'a'.repeat(40), dirty: true },
          configs: { train: digestOf('train-config'), ingest: digestOf('ingest-config') },
          configBundle: digestOf('config-bundle'),
          tags: { trigger: 'ci', 'team/owner': 'ml' },
          host: { hostname: 'box', pid: 4242 },
          lease: { heartbeatAt: at(1), expiresAt: at(61) },
        });
        await store.createRun(run);
        expect(await store.getRun(run.id)).toEqual(run);
        expect(await store.getRun('r_missing')).toBeUndefined();
      });

      it('updates status, finish time, counts and error', async () => {
        const store = await open();
        const run = runRecord(1);
        await store.createRun(run);
        await store.updateRun(run.id, {
          status: 'failed',
          finishedAt: at(60),
          counts: { executed: 3, cached: 2, failed: 1, skipped: 4 },
          error: 'step train failed',
        });
        expect(await store.getRun(run.id)).toEqual({
          ...run,
          status: 'failed',
          finishedAt: at(60),
          counts: { executed: 3, cached: 2, failed: 1, skipped: 4 },
          error: 'step train failed',
        });
        // A patch changes only what it names.
        await store.updateRun(run.id, { status: 'succeeded' });
        const after = await store.getRun(run.id);
        expect(after?.status).toBe('succeeded');
        expect(after?.counts).toEqual({ executed: 3, cached: 2, failed: 1, skipped: 4 });
        expect(after?.finishedAt).toBe(at(60));
        expect(after?.error).toBe('step train failed');
        // error: '' clears it: a run whose failed step succeeded on a retry has no error.
        await store.updateRun(run.id, { error: '' });
        const cleared = await store.getRun(run.id);
        expect(cleared).not.toHaveProperty('error');
        expect(cleared?.status).toBe('succeeded');
        expect((await store.listRuns({})).find((r) => r.id === run.id)).not.toHaveProperty('error');
      });

      it('refuses to update an unknown run with CAIRN_METADATA_NOT_FOUND', async () => {
        const store = await open();
        await expectCode(store.updateRun('r_missing', { status: 'failed' }), 'CAIRN_METADATA_NOT_FOUND');
      });

      it('lists runs newest first, filtered and paged with before', async () => {
        const store = await open();
        // Created out of order: the store sorts, not the insertion order.
        const order = [3, 1, 7, 5, 2, 6, 4, 8];
        for (const n of order) {
          await store.createRun(
            runRecord(n, {
              pipeline: n % 2 === 0 ? 'training' : 'scoring',
              env: n > 4 ? 'ci' : 'local',
              status: n === 5 ? 'failed' : 'succeeded',
            }),
          );
        }
        const ids = (runs: RunRecord[]) => runs.map((r) => r.id);
        const id = (n: number) => `r_${String(n).padStart(6, '0')}`;

        expect(ids(await store.listRuns())).toEqual([8, 7, 6, 5, 4, 3, 2, 1].map(id));
        expect(ids(await store.listRuns({ pipeline: 'training' }))).toEqual([8, 6, 4, 2].map(id));
        expect(ids(await store.listRuns({ env: 'ci' }))).toEqual([8, 7, 6, 5].map(id));
        expect(ids(await store.listRuns({ status: 'failed' }))).toEqual([id(5)]);
        expect(ids(await store.listRuns({ pipeline: 'scoring', env: 'ci', status: 'succeeded' }))).toEqual([
          id(7),
        ]);
        expect(ids(await store.listRuns({ limit: 3 }))).toEqual([8, 7, 6].map(id));
        expect(ids(await store.listRuns({ limit: 3, before: id(6) }))).toEqual([5, 4, 3].map(id));
        expect(ids(await store.listRuns({ limit: 3, before: id(3) }))).toEqual([2, 1].map(id));
        expect(ids(await store.listRuns({ before: id(1) }))).toEqual([]);
        expect(ids(await store.listRuns({ pipeline: 'training', before: id(6), limit: 1 }))).toEqual([id(4)]);
        expect(await store.listRuns({ pipeline: 'nothing' })).toEqual([]);
        // Listed records are whole records.
        expect((await store.listRuns({ limit: 1 }))[0]).toEqual(await store.getRun(id(8)));
      });

      it('pages through more runs than the default limit of 50', async () => {
        const store = await open();
        for (let n = 1; n <= 60; n++) await store.createRun(runRecord(n));
        const first = await store.listRuns();
        expect(first).toHaveLength(50);
        expect(first[0]!.id).toBe('r_000060');
        const rest = await store.listRuns({ before: first[49]!.id });
        expect(rest.map((r) => r.id)).toEqual(
          Array.from({ length: 10 }, (_, i) => `r_${String(10 - i).padStart(6, '0')}`),
        );
      });

      it('heartbeat renews the lease of a running run, and only of a running run', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        expect(await store.heartbeat('r_000001', { heartbeatAt: at(10), expiresAt: at(70) })).toBe(true);
        expect((await store.getRun('r_000001'))?.lease).toEqual({ heartbeatAt: at(10), expiresAt: at(70) });
        expect(await store.heartbeat('r_000001', { heartbeatAt: at(20), expiresAt: at(80) })).toBe(true);
        expect((await store.getRun('r_000001'))?.lease).toEqual({ heartbeatAt: at(20), expiresAt: at(80) });
        // A finished run's lease is not renewed: its process learns that it no longer holds the run.
        await store.updateRun('r_000001', { status: 'succeeded', finishedAt: at(30) });
        expect(await store.heartbeat('r_000001', { heartbeatAt: at(40), expiresAt: at(100) })).toBe(false);
        const finished = await store.getRun('r_000001');
        expect(finished?.lease).toEqual({ heartbeatAt: at(20), expiresAt: at(80) });
        expect(finished?.status).toBe('succeeded');
        await expectCode(
          store.heartbeat('r_missing', { heartbeatAt: at(1), expiresAt: at(2) }),
          'CAIRN_METADATA_NOT_FOUND',
        );
        // Stores compare lease times as strings: only the one ISO shape is accepted.
        await store.createRun(runRecord(2));
        await expectCode(
          store.heartbeat('r_000002', { heartbeatAt: at(1), expiresAt: '2025-01-01 00:01:00' }),
          'CAIRN_METADATA_FAILED',
        );
        expect((await store.getRun('r_000002'))?.lease).toBeUndefined();
      });

      it('abandonRun fails a running run; with expiredBy, only once its lease has expired', async () => {
        const store = await open();
        const mark = (expiredBy?: string) => ({
          finishedAt: at(500),
          error: 'abandoned: lease expired',
          ...(expiredBy ? { expiredBy } : {}),
        });
        await store.createRun(runRecord(1, { lease: { heartbeatAt: at(0), expiresAt: at(60) } }));
        expect(await store.abandonRun('r_000001', mark(at(30)))).toBe(false);
        // Expired means strictly before the judge's time.
        expect(await store.abandonRun('r_000001', mark(at(60)))).toBe(false);
        // Renewed meanwhile: the judge's view is stale, and the run is left alone.
        await store.heartbeat('r_000001', { heartbeatAt: at(55), expiresAt: at(115) });
        expect(await store.abandonRun('r_000001', mark(at(90)))).toBe(false);
        expect((await store.getRun('r_000001'))?.status).toBe('running');
        expect(await store.abandonRun('r_000001', mark(at(116)))).toBe(true);
        expect(await store.getRun('r_000001')).toEqual(
          runRecord(1, {
            status: 'failed',
            finishedAt: at(500),
            error: 'abandoned: lease expired',
            lease: { heartbeatAt: at(55), expiresAt: at(115) },
          }),
        );
        expect(await store.abandonRun('r_000001', mark())).toBe(false);

        // Without a lease, only a caller that knows the process is gone (no expiredBy) may mark it.
        await store.createRun(runRecord(2));
        expect(await store.abandonRun('r_000002', mark(at(1000)))).toBe(false);
        expect(await store.abandonRun('r_000002', mark())).toBe(true);
        expect((await store.getRun('r_000002'))?.status).toBe('failed');

        // A run that finished is never marked.
        await store.createRun(runRecord(3, { lease: { heartbeatAt: at(0), expiresAt: at(1) } }));
        await store.updateRun('r_000003', { status: 'succeeded', finishedAt: at(2) });
        expect(await store.abandonRun('r_000003', mark())).toBe(false);
        expect(await store.abandonRun('r_000003', mark(at(1000)))).toBe(false);
        expect(await store.getRun('r_000003')).toEqual(
          runRecord(3, {
            status: 'succeeded',
            finishedAt: at(2),
            lease: { heartbeatAt: at(0), expiresAt: at(1) },
          }),
        );

        await expectCode(store.abandonRun('r_missing', mark()), 'CAIRN_METADATA_NOT_FOUND');
      });

      it('returns copies: mutating a returned record does not change the store', async () => {
        const store = await open();
        await store.createRun(runRecord(1, { tags: { a: '1' } }));
        const got = (await store.getRun('r_000001'))!;
        got.status = 'failed';
        got.tags!.a = 'changed';
        expect(await store.getRun('r_000001')).toEqual(runRecord(1, { tags: { a: '1' } }));
      });
    });

    describe('executions, artifacts and lineage', () => {
      it('records an execution and reads back every field', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        const execution: ExecutionRecord = {
          ...executionRecord({
            id: 'e_1',
            runId: 'r_000001',
            step: 'train',
            inputs: { train: 'x' },
            outputs: { model: 'm' },
          }),
          configDigest: digestOf('config'),
          attempts: 3,
          error: { code: 'CAIRN_STEP_FAILED', message: 'boom' },
          status: 'failed',
          reason: 'code-changed: src/classifier.ts',
        };
        await store.recordExecution(execution, []);
        expect(await store.getExecution('e_1')).toEqual(execution);
        expect(await store.getExecution('e_missing')).toBeUndefined();

        const cached = executionRecord({
          id: 'e_2',
          runId: 'r_000001',
          step: 'train',
          status: 'cached',
          cachedFrom: 'e_0',
          outputs: { model: 'm' },
        });
        await store.recordExecution(cached, []);
        expect(await store.getExecution('e_2')).toEqual(cached);
      });

      it('lists the executions of a run in recording order', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await store.createRun(runRecord(2));
        // Recording order differs from id order and start time order.
        await record(store, { id: 'e_c', runId: 'r_000001', step: 'c', at: 30 });
        await record(store, { id: 'e_a', runId: 'r_000001', step: 'a', at: 10 });
        await record(store, { id: 'e_x', runId: 'r_000002', step: 'x' });
        await record(store, { id: 'e_b', runId: 'r_000001', step: 'b', at: 20 });
        expect((await store.listExecutions('r_000001')).map((e) => e.id)).toEqual(['e_c', 'e_a', 'e_b']);
        expect((await store.listExecutions('r_000002')).map((e) => e.id)).toEqual(['e_x']);
        expect(await store.listExecutions('r_missing')).toEqual([]);
      });

      it('stores artifact records and keeps the first producer', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await store.createRun(runRecord(2));
        await record(store, { id: 'e_1', runId: 'r_000001', step: 'train', outputs: { model: 'm' }, at: 1 });
        const first = await store.getArtifact(digestOf('m'));
        expect(first).toEqual(
          artifactRecord(
            'm',
            { runId: 'r_000001', step: 'train', output: 'model', executionId: 'e_1' },
            { createdAt: at(1) },
          ),
        );
        // The same bytes produced again, by another step of another run.
        await record(store, { id: 'e_2', runId: 'r_000002', step: 'retrain', outputs: { best: 'm' }, at: 2 });
        expect(await store.getArtifact(digestOf('m'))).toEqual(first);
        expect(await store.getArtifact(digestOf('unknown'))).toBeUndefined();
      });

      it('lists artifacts newest first, by type and by run', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await store.createRun(runRecord(2));
        const producer = (executionId: string, output: string) => ({
          runId: 'r_000001',
          step: 's',
          output,
          executionId,
        });
        await store.recordExecution(
          executionRecord({ id: 'e_1', runId: 'r_000001', step: 's', outputs: { a: 'a', b: 'b', c: 'c' } }),
          [
            artifactRecord('a', producer('e_1', 'a'), { type: 'json', createdAt: at(1) }),
            artifactRecord('c', producer('e_1', 'c'), { type: 'table', createdAt: at(3) }),
            artifactRecord('b', producer('e_1', 'b'), { type: 'model', createdAt: at(2) }),
          ],
        );
        await store.recordExecution(
          executionRecord({ id: 'e_2', runId: 'r_000002', step: 's', outputs: { d: 'd' } }),
          [
            artifactRecord(
              'd',
              { ...producer('e_2', 'd'), runId: 'r_000002' },
              { type: 'table', createdAt: at(4) },
            ),
          ],
        );
        const digests = (records: ArtifactRecord[]) => records.map((r) => r.digest);
        expect(digests(await store.listArtifacts())).toEqual(['d', 'c', 'b', 'a'].map(digestOf));
        expect(digests(await store.listArtifacts({ type: 'table' }))).toEqual(['d', 'c'].map(digestOf));
        expect(digests(await store.listArtifacts({ runId: 'r_000001' }))).toEqual(
          ['c', 'b', 'a'].map(digestOf),
        );
        expect(digests(await store.listArtifacts({ runId: 'r_000002', type: 'table' }))).toEqual([
          digestOf('d'),
        ]);
        expect(digests(await store.listArtifacts({ limit: 2 }))).toEqual(['d', 'c'].map(digestOf));
        expect(await store.listArtifacts({ runId: 'r_missing' })).toEqual([]);
        expect((await store.listArtifacts({ type: 'model' }))[0]).toEqual(
          await store.getArtifact(digestOf('b')),
        );
      });

      it('lists at most 100 artifacts by default', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        const outputs = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`o${i}`, `artifact-${i}`]));
        await record(store, { id: 'e_many', runId: 'r_000001', step: 's', outputs });
        expect(await store.listArtifacts()).toHaveLength(100);
        expect(await store.listArtifacts({ limit: 500 })).toHaveLength(120);
        expect(await store.listArtifacts({ runId: 'r_000001' })).toHaveLength(100);
      });

      it('lineage up from an artifact follows producers, depth counting executions', async () => {
        const store = await open();
        await recordChain(store);
        const model = { digest: digestOf('model') };

        const all = await store.lineage(model, { direction: 'up' });
        expect(execIds(all)).toEqual(['e_ingest', 'e_prepare', 'e_train']);
        expect(artifactDigests(all)).toEqual(sorted(['model', 'train-set', 'raw'].map(digestOf)));
        expect(edgeKeys(all)).toEqual(
          sorted([
            outEdge('e_train', 'model', 'model'),
            inEdge('train-set', 'e_train', 'train'),
            outEdge('e_prepare', 'train-set', 'train'),
            inEdge('raw', 'e_prepare', 'data'),
            outEdge('e_ingest', 'raw', 'data'),
          ]),
        );

        const one = await store.lineage(model, { direction: 'up', depth: 1 });
        expect(execIds(one)).toEqual(['e_train']);
        expect(artifactDigests(one)).toEqual(sorted(['model', 'train-set'].map(digestOf)));
        expect(edgeKeys(one)).toEqual(
          sorted([outEdge('e_train', 'model', 'model'), inEdge('train-set', 'e_train', 'train')]),
        );

        const two = await store.lineage(model, { direction: 'up', depth: 2 });
        expect(execIds(two)).toEqual(['e_prepare', 'e_train']);
        expect(artifactDigests(two)).toEqual(sorted(['model', 'train-set', 'raw'].map(digestOf)));

        const zero = await store.lineage(model, { direction: 'up', depth: 0 });
        expect(execIds(zero)).toEqual([]);
        expect(artifactDigests(zero)).toEqual([digestOf('model')]);
        expect(zero.edges).toEqual([]);

        // Graph nodes are whole records.
        expect(all.executions.find((e) => e.id === 'e_train')).toEqual(await store.getExecution('e_train'));
        expect(all.artifacts.find((a) => a.digest === digestOf('raw'))).toEqual(
          await store.getArtifact(digestOf('raw')),
        );
      });

      it('lineage down from an artifact follows consumers', async () => {
        const store = await open();
        await recordChain(store);
        const raw = { digest: digestOf('raw') };

        const all = await store.lineage(raw, { direction: 'down' });
        expect(execIds(all)).toEqual(['e_prepare', 'e_train']);
        expect(artifactDigests(all)).toEqual(sorted(['raw', 'train-set', 'model', 'metrics'].map(digestOf)));
        expect(edgeKeys(all)).toEqual(
          sorted([
            inEdge('raw', 'e_prepare', 'data'),
            outEdge('e_prepare', 'train-set', 'train'),
            inEdge('train-set', 'e_train', 'train'),
            outEdge('e_train', 'model', 'model'),
            outEdge('e_train', 'metrics', 'metrics'),
          ]),
        );

        const one = await store.lineage(raw, { direction: 'down', depth: 1 });
        expect(execIds(one)).toEqual(['e_prepare']);
        expect(artifactDigests(one)).toEqual(sorted(['raw', 'train-set'].map(digestOf)));

        const leaf = await store.lineage({ digest: digestOf('model') }, { direction: 'down' });
        expect(execIds(leaf)).toEqual([]);
        expect(artifactDigests(leaf)).toEqual([digestOf('model')]);
      });

      it('lineage both is the union of up and down (no siblings), and is the default', async () => {
        const store = await open();
        await recordChain(store);
        const middle = { digest: digestOf('train-set') };

        const both = await store.lineage(middle, { direction: 'both' });
        expect(execIds(both)).toEqual(['e_ingest', 'e_prepare', 'e_train']);
        expect(artifactDigests(both)).toEqual(sorted(['raw', 'train-set', 'model', 'metrics'].map(digestOf)));
        expect(edgeKeys(await store.lineage(middle))).toEqual(edgeKeys(both));

        const near = await store.lineage(middle, { depth: 1 });
        expect(execIds(near)).toEqual(['e_prepare', 'e_train']);
        expect(artifactDigests(near)).toEqual(sorted(['raw', 'train-set', 'model', 'metrics'].map(digestOf)));

        // Up from the model reaches train but not its sibling output metrics.
        const up = await store.lineage({ digest: digestOf('model') }, { direction: 'both' });
        expect(artifactDigests(up)).not.toContain(digestOf('metrics'));
      });

      it('lineage of a run: its executions, then producers upstream in other runs', async () => {
        const store = await open();
        await recordChain(store);
        // A second run evaluates the model the first one trained.
        await store.createRun(runRecord(2));
        await record(store, {
          id: 'e_eval',
          runId: 'r_000002',
          step: 'evaluate',
          inputs: { model: 'model' },
          outputs: { report: 'report' },
        });

        const own = await store.lineage({ runId: 'r_000001' }, { depth: 0 });
        expect(execIds(own)).toEqual(['e_ingest', 'e_prepare', 'e_train']);
        expect(artifactDigests(own)).toEqual(sorted(['raw', 'train-set', 'model', 'metrics'].map(digestOf)));
        expect(own.edges).toHaveLength(6);

        const second = await store.lineage({ runId: 'r_000002' }, { depth: 0 });
        expect(execIds(second)).toEqual(['e_eval']);
        expect(edgeKeys(second)).toEqual(
          sorted([inEdge('model', 'e_eval', 'model'), outEdge('e_eval', 'report', 'report')]),
        );

        const upstream = await store.lineage({ runId: 'r_000002' }, { direction: 'up' });
        expect(execIds(upstream)).toEqual(['e_eval', 'e_ingest', 'e_prepare', 'e_train']);
        expect(artifactDigests(upstream)).not.toContain(digestOf('metrics'));

        const oneUp = await store.lineage({ runId: 'r_000002' }, { direction: 'up', depth: 1 });
        expect(execIds(oneUp)).toEqual(['e_eval', 'e_train']);

        const downstream = await store.lineage({ runId: 'r_000001' }, { direction: 'down' });
        expect(execIds(downstream)).toEqual(['e_eval', 'e_ingest', 'e_prepare', 'e_train']);
        expect(artifactDigests(downstream)).toContain(digestOf('report'));

        const none = await store.lineage({ runId: 'r_missing' });
        expect(none).toEqual({ artifacts: [], executions: [], edges: [] });
      });

      it('lineage of a cached run shows the reused outputs and where they came from', async () => {
        const store = await open();
        await recordChain(store);
        await store.createRun(runRecord(2));
        await record(store, {
          id: 'e_train_again',
          runId: 'r_000002',
          step: 'train',
          status: 'cached',
          cachedFrom: 'e_train',
          inputs: { train: 'train-set' },
          outputs: { model: 'model', metrics: 'metrics' },
        });
        const own = await store.lineage({ runId: 'r_000002' }, { depth: 0 });
        expect(execIds(own)).toEqual(['e_train_again']);
        expect(artifactDigests(own)).toEqual(sorted(['train-set', 'model', 'metrics'].map(digestOf)));
        const up = await store.lineage({ digest: digestOf('model') }, { direction: 'up', depth: 1 });
        expect(execIds(up)).toEqual(['e_train', 'e_train_again']);
        // The first producer is still the one that ran.
        expect((await store.getArtifact(digestOf('model')))?.producer?.executionId).toBe('e_train');
      });

      it('refuses an invalid lineage digest', async () => {
        const store = await open();
        await expectCode(store.lineage({ digest: '../../etc/passwd' }), 'CAIRN_ARTIFACT_KEY_INVALID');
      });
    });

    describe('cache index', () => {
      it('returns the latest succeeded cacheable execution for a key', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await store.createRun(runRecord(2));
        expect(await store.lookupCache('k')).toBeUndefined();
        await record(store, {
          id: 'e_1',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'v1' },
        });
        let entry = await store.lookupCache('k');
        expect(entry).toMatchObject({
          cacheKey: 'k',
          executionId: 'e_1',
          runId: 'r_000001',
          outputs: { out: ref('v1') },
        });
        expect(Number.isNaN(Date.parse(entry!.createdAt))).toBe(false);

        await record(store, {
          id: 'e_2',
          runId: 'r_000002',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'v2' },
        });
        entry = await store.lookupCache('k');
        expect(entry).toMatchObject({
          cacheKey: 'k',
          executionId: 'e_2',
          runId: 'r_000002',
          outputs: { out: ref('v2') },
        });
        expect(await store.lookupCache('other')).toBeUndefined();
      });

      it('never makes failed, cached, skipped, cancelled or non-cacheable executions cache entries', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await record(store, {
          id: 'e_ok',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'good' },
        });
        const statuses = ['failed', 'cached', 'skipped', 'cancelled'] as const;
        for (const status of statuses) {
          await record(store, {
            id: `e_${status}`,
            runId: 'r_000001',
            step: 's',
            cacheKey: 'k',
            status,
            outputs: { out: status },
          });
          await record(store, {
            id: `e_${status}_new`,
            runId: 'r_000001',
            step: 's',
            cacheKey: `only-${status}`,
            status,
          });
          expect(await store.lookupCache(`only-${status}`)).toBeUndefined();
        }
        await record(store, {
          id: 'e_nc',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          cacheable: false,
          outputs: { out: 'x' },
        });
        await record(store, {
          id: 'e_nc_new',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'nc',
          cacheable: false,
        });
        expect((await store.lookupCache('k'))?.executionId).toBe('e_ok');
        expect(await store.lookupCache('nc')).toBeUndefined();
      });

      it('invalidateCache forgets the entry until a new execution succeeds', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await record(store, {
          id: 'e_1',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'v1' },
        });
        await record(store, {
          id: 'e_2',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'v2' },
        });
        await record(store, {
          id: 'e_3',
          runId: 'r_000001',
          step: 't',
          cacheKey: 'k2',
          outputs: { out: 'v3' },
        });
        await store.invalidateCache('k');
        expect(await store.lookupCache('k')).toBeUndefined();
        // Other keys are untouched; forgetting an unknown key is not an error.
        expect((await store.lookupCache('k2'))?.executionId).toBe('e_3');
        await store.invalidateCache('never-seen');
        // A reuse of the forgotten execution does not bring it back…
        await record(store, {
          id: 'e_4',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          status: 'cached',
          cachedFrom: 'e_2',
        });
        expect(await store.lookupCache('k')).toBeUndefined();
        // …a fresh success does.
        await record(store, {
          id: 'e_5',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'v5' },
        });
        expect((await store.lookupCache('k'))?.executionId).toBe('e_5');
        // The executions themselves are still recorded.
        expect(await store.getExecution('e_2')).toBeDefined();
      });
    });

    describe('atomicity', () => {
      it('a recordExecution refused for an invalid artifact digest leaves nothing behind', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        const execution = executionRecord({
          id: 'e_bad',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          outputs: { out: 'o' },
        });
        const good = artifactRecord('o', {
          runId: 'r_000001',
          step: 's',
          output: 'out',
          executionId: 'e_bad',
        });
        const bad = { ...artifactRecord('p'), digest: 'not-a-digest' };
        await expectCode(store.recordExecution(execution, [good, bad]), 'CAIRN_ARTIFACT_KEY_INVALID');
        expect(await store.getExecution('e_bad')).toBeUndefined();
        expect(await store.getArtifact(digestOf('o'))).toBeUndefined();
        expect(await store.lookupCache('k')).toBeUndefined();
        expect(await store.listExecutions('r_000001')).toEqual([]);
        expect(await store.listArtifacts()).toEqual([]);
        const graph = await store.lineage({ digest: digestOf('o') });
        expect(graph.executions).toEqual([]);
        expect(graph.edges).toEqual([]);
      });

      it('a recordExecution refused for an invalid output digest leaves nothing behind', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        const execution = executionRecord({
          id: 'e_bad',
          runId: 'r_000001',
          step: 's',
          cacheKey: 'k',
          inputs: { x: 'in' },
        });
        execution.outputs = { out: { digest: 'ABC', type: 'json', size: 1 } };
        await expectCode(
          store.recordExecution(execution, [artifactRecord('in')]),
          'CAIRN_ARTIFACT_KEY_INVALID',
        );
        expect(await store.getExecution('e_bad')).toBeUndefined();
        expect(await store.getArtifact(digestOf('in'))).toBeUndefined();
        expect(await store.lookupCache('k')).toBeUndefined();
        expect((await store.lineage({ digest: digestOf('in') })).edges).toEqual([]);
      });
    });

    describe('concurrency', () => {
      it('50 concurrent recordExecution calls with overlapping artifacts all land', async () => {
        const store = await open();
        await store.createRun(runRecord(1));
        await concurrentRecords([store, store]);
        await checkConcurrentRecords(store);
      });

      if (options.createSecond) {
        it('two handles see each other’s writes', async () => {
          const a = await open();
          const b = await openSecond(a);
          await a.createRun(runRecord(1));
          expect(await b.getRun('r_000001')).toEqual(runRecord(1));
          await record(b, { id: 'e_1', runId: 'r_000001', step: 's', cacheKey: 'k', outputs: { out: 'v' } });
          expect((await a.lookupCache('k'))?.executionId).toBe('e_1');
          expect((await a.getArtifact(digestOf('v')))?.producer?.executionId).toBe('e_1');
          await b.updateRun('r_000001', { status: 'succeeded' });
          expect((await a.getRun('r_000001'))?.status).toBe('succeeded');
          await a.invalidateCache('k');
          expect(await b.lookupCache('k')).toBeUndefined();
          const version = await a.registerModel({ model: 'm', digest: digestOf('w') });
          await b.transitionStage({ model: 'm', version: version.version, to: 'production', reason: 'test' });
          expect((await a.getModelByStage('m', 'production'))?.version).toBe(version.version);
        });

        it('two handles may init at once, and data outlives the handle that wrote it', async () => {
          const a = await options.create();
          opened.push(a);
          const b = await options.createSecond!(a);
          opened.push(b);
          await Promise.all([a.init?.(), b.init?.()]);
          await a.createRun(runRecord(1));
          await record(a, { id: 'e_1', runId: 'r_000001', step: 's', cacheKey: 'k', outputs: { out: 'v' } });
          opened.splice(opened.indexOf(a), 1);
          await a.close?.();
          const c = await openSecond(b);
          expect(await c.getRun('r_000001')).toEqual(runRecord(1));
          expect((await c.lookupCache('k'))?.executionId).toBe('e_1');
          expect((await c.listExecutions('r_000001')).map((e) => e.id)).toEqual(['e_1']);
        });

        it('a heartbeat and an abandonRun racing on two handles: exactly one of them wins', async () => {
          const a = await open();
          const b = await openSecond(a);
          for (let n = 1; n <= 20; n++) {
            const id = runRecord(n).id;
            await a.createRun(runRecord(n, { lease: { heartbeatAt: at(0), expiresAt: at(10) } }));
            const [renewed, abandoned] = await Promise.all([
              a.heartbeat(id, { heartbeatAt: at(20), expiresAt: at(80) }),
              b.abandonRun(id, { finishedAt: at(20), error: 'abandoned', expiredBy: at(20) }),
            ]);
            expect(renewed !== abandoned, `run ${id}: renewed ${renewed}, abandoned ${abandoned}`).toBe(true);
            const stored = await b.getRun(id);
            expect(stored?.status).toBe(abandoned ? 'failed' : 'running');
            expect(stored?.lease?.expiresAt).toBe(renewed ? at(80) : at(10));
          }
        });

        it('50 concurrent recordExecution calls split over two handles all land', async () => {
          const a = await open();
          const b = await openSecond(a);
          await a.createRun(runRecord(1));
          await concurrentRecords([a, b]);
          await checkConcurrentRecords(a);
          await checkConcurrentRecords(b);
        });

        it('concurrent registrations and promotions over two handles stay consistent', async () => {
          const a = await open();
          const b = await openSecond(a);
          const versions = await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              (i % 2 ? a : b).registerModel({ model: 'm', digest: digestOf(`w${i}`) }),
            ),
          );
          expect(versions.map((v) => v.version).sort((x, y) => x - y)).toEqual([
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
          ]);
          const results = await Promise.allSettled([
            a.transitionStage({
              model: 'm',
              version: 1,
              to: 'production',
              reason: 'a',
              expectedFrom: 'none',
            }),
            b.transitionStage({
              model: 'm',
              version: 1,
              to: 'production',
              reason: 'b',
              expectedFrom: 'none',
            }),
          ]);
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
          expect(rejected).toHaveLength(1);
          expect(rejected[0]!.reason?.code).toBe('CAIRN_REGISTRY_CONFLICT');
          const history = await b.modelHistory('m');
          expect(history.filter((t) => t.accepted)).toHaveLength(1);
          expect(history.filter((t) => !t.accepted)).toHaveLength(1);
        });
      }

      /** 50 executions, each consuming one shared artifact and writing one of 10 overlapping outputs. */
      async function concurrentRecords(handles: MetadataStore[]): Promise<void> {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            record(handles[i % handles.length]!, {
              id: `e_${String(i).padStart(2, '0')}`,
              runId: 'r_000001',
              step: `s${i}`,
              cacheKey: `k${i}`,
              inputs: { shared: 'shared' },
              outputs: { out: `out-${i % 10}`, own: `own-${i}` },
            }),
          ),
        );
      }

      async function checkConcurrentRecords(store: MetadataStore): Promise<void> {
        const executions = await store.listExecutions('r_000001');
        expect(sorted(executions.map((e) => e.id))).toEqual(
          sorted(Array.from({ length: 50 }, (_, i) => `e_${String(i).padStart(2, '0')}`)),
        );
        for (let i = 0; i < 50; i++) {
          const id = `e_${String(i).padStart(2, '0')}`;
          expect((await store.lookupCache(`k${i}`))?.executionId).toBe(id);
          expect((await store.getArtifact(digestOf(`own-${i}`)))?.producer?.executionId).toBe(id);
        }
        for (let k = 0; k < 10; k++) {
          const producer = (await store.getArtifact(digestOf(`out-${k}`)))?.producer?.executionId;
          expect(producer).toBeDefined();
          expect(Number(producer!.slice(2)) % 10).toBe(k);
        }
        const down = await store.lineage({ digest: digestOf('shared') }, { direction: 'down', depth: 1 });
        expect(down.executions).toHaveLength(50);
        expect(down.artifacts).toHaveLength(1 + 10 + 50);
        expect(down.edges).toHaveLength(50 * 3);
        expect(await store.listArtifacts({ limit: 1000 })).toHaveLength(1 + 10 + 50);
      }
    });

    describe('model registry', () => {
      it('registers versions 1, 2, 3 and returns the existing version for a known digest', async () => {
        const store = await open();
        const v1 = await store.registerModel({
          model: 'penguins',
          digest: digestOf('w1'),
          metrics: { accuracy: 0.91 },
          runId: 'r_000001',
          description: 'first',
        });
        expect(v1).toMatchObject({
          model: 'penguins',
          version: 1,
          digest: digestOf('w1'),
          stage: 'none',
          metrics: { accuracy: 0.91 },
          runId: 'r_000001',
          description: 'first',
        });
        expect(Number.isNaN(Date.parse(v1.createdAt))).toBe(false);
        const v2 = await store.registerModel({ model: 'penguins', digest: digestOf('w2') });
        const v3 = await store.registerModel({ model: 'penguins', digest: digestOf('w3') });
        expect([v2.version, v3.version]).toEqual([2, 3]);
        expect(v2.metrics).toEqual({});
        expect(await store.registerModel({ model: 'penguins', digest: digestOf('w1') })).toEqual(v1);
        // Digests are unique per model, not across models.
        expect((await store.registerModel({ model: 'other', digest: digestOf('w1') })).version).toBe(1);

        expect(await store.getModelVersion('penguins', 2)).toEqual(v2);
        expect(await store.getModelVersion('penguins', 9)).toBeUndefined();
        expect(await store.getModelVersion('nothing', 1)).toBeUndefined();
        expect((await store.listModelVersions('penguins')).map((v) => v.version)).toEqual([3, 2, 1]);
        expect(await store.listModelVersions('nothing')).toEqual([]);
      });

      it('refuses an invalid model digest', async () => {
        const store = await open();
        await expectCode(store.registerModel({ model: 'm', digest: 'nope' }), 'CAIRN_ARTIFACT_KEY_INVALID');
        expect(await store.listModelVersions('m')).toEqual([]);
      });

      it('concurrent registrations get distinct consecutive versions; the same digest gets one', async () => {
        const store = await open();
        const versions = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.registerModel({ model: 'm', digest: digestOf(`w${i}`) }),
          ),
        );
        expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        const same = await Promise.all(
          Array.from({ length: 5 }, () => store.registerModel({ model: 'n', digest: digestOf('same') })),
        );
        expect(new Set(same.map((v) => v.version))).toEqual(new Set([1]));
        expect(await store.listModelVersions('n')).toHaveLength(1);
      });

      it('lists models with their latest, production and staging versions', async () => {
        const store = await open();
        expect(await store.listModels()).toEqual([]);
        for (const w of ['a1', 'a2', 'a3'])
          await store.registerModel({ model: 'alpha', digest: digestOf(w) });
        await store.registerModel({ model: 'beta', digest: digestOf('b1') });
        await store.transitionStage({ model: 'alpha', version: 2, to: 'production', reason: 'best' });
        await store.transitionStage({ model: 'alpha', version: 3, to: 'staging', reason: 'candidate' });
        const models = (await store.listModels()).sort((x, y) => x.model.localeCompare(y.model));
        expect(models).toEqual([
          { model: 'alpha', latest: 3, production: 2, staging: 3 },
          { model: 'beta', latest: 1 },
        ]);
      });

      it('moves stages, archives the previous production version and records every transition', async () => {
        const store = await open();
        for (const w of ['w1', 'w2', 'w3']) await store.registerModel({ model: 'm', digest: digestOf(w) });
        expect(await store.getModelByStage('m', 'production')).toBeUndefined();

        const t1 = await store.transitionStage({
          model: 'm',
          version: 1,
          to: 'production',
          reason: 'first',
          actor: 'ana',
        });
        expect(t1).toMatchObject({
          model: 'm',
          version: 1,
          from: 'none',
          to: 'production',
          reason: 'first',
          actor: 'ana',
          accepted: true,
        });
        expect(Number.isNaN(Date.parse(t1.at))).toBe(false);
        expect((await store.getModelByStage('m', 'production'))?.version).toBe(1);

        await store.transitionStage({ model: 'm', version: 2, to: 'staging', reason: 'candidate' });
        expect((await store.getModelByStage('m', 'staging'))?.version).toBe(2);

        const t2 = await store.transitionStage({
          model: 'm',
          version: 2,
          to: 'production',
          reason: 'better',
          expectedFrom: 'staging',
        });
        expect(t2).toMatchObject({
          version: 2,
          from: 'staging',
          to: 'production',
          actor: 'unknown',
          accepted: true,
        });
        expect((await store.getModelByStage('m', 'production'))?.version).toBe(2);
        expect(await store.getModelByStage('m', 'staging')).toBeUndefined();
        expect((await store.getModelVersion('m', 1))?.stage).toBe('archived');
        expect((await store.getModelVersion('m', 2))?.stage).toBe('production');
        expect((await store.getModelVersion('m', 3))?.stage).toBe('none');

        const history = await store.modelHistory('m');
        expect(history.map(({ version, from, to, accepted }) => ({ version, from, to, accepted }))).toEqual([
          { version: 1, from: 'none', to: 'production', accepted: true },
          { version: 2, from: 'none', to: 'staging', accepted: true },
          { version: 1, from: 'production', to: 'archived', accepted: true },
          { version: 2, from: 'staging', to: 'production', accepted: true },
        ]);
        expect(await store.modelHistory('other')).toEqual([]);

        // Retiring the production version leaves no production version.
        await store.transitionStage({
          model: 'm',
          version: 2,
          to: 'archived',
          reason: 'retired',
          expectedFrom: 'production',
        });
        expect(await store.getModelByStage('m', 'production')).toBeUndefined();
        expect((await store.listModels()).find((entry) => entry.model === 'm')).toEqual({
          model: 'm',
          latest: 3,
        });
      });

      it('archivePrevious: false leaves the previous holder of the stage as it is', async () => {
        const store = await open();
        for (const w of ['w1', 'w2']) await store.registerModel({ model: 'm', digest: digestOf(w) });
        await store.transitionStage({ model: 'm', version: 1, to: 'production', reason: 'a' });
        await store.transitionStage({
          model: 'm',
          version: 2,
          to: 'production',
          reason: 'b',
          archivePrevious: false,
        });
        expect((await store.getModelVersion('m', 1))?.stage).toBe('production');
        expect((await store.getModelVersion('m', 2))?.stage).toBe('production');
        expect(await store.modelHistory('m')).toHaveLength(2);
      });

      it('refuses a transition whose expectedFrom no longer holds, and records the attempt', async () => {
        const store = await open();
        await store.registerModel({ model: 'm', digest: digestOf('w1') });
        await store.transitionStage({ model: 'm', version: 1, to: 'staging', reason: 'candidate' });
        const error = await expectCode(
          store.transitionStage({
            model: 'm',
            version: 1,
            to: 'production',
            reason: 'ship',
            actor: 'ci',
            expectedFrom: 'none',
          }),
          'CAIRN_REGISTRY_CONFLICT',
        );
        expect(error.message.length).toBeGreaterThan(0);
        expect((await store.getModelVersion('m', 1))?.stage).toBe('staging');
        expect(await store.getModelByStage('m', 'production')).toBeUndefined();
        const history = await store.modelHistory('m');
        expect(history).toHaveLength(2);
        expect(history[1]).toMatchObject({
          model: 'm',
          version: 1,
          to: 'production',
          reason: 'ship',
          actor: 'ci',
          accepted: false,
        });
      });

      it('unknown model or version → CAIRN_METADATA_NOT_FOUND', async () => {
        const store = await open();
        await expectCode(
          store.transitionStage({ model: 'ghost', version: 1, to: 'production', reason: 'x' }),
          'CAIRN_METADATA_NOT_FOUND',
        );
        await store.registerModel({ model: 'm', digest: digestOf('w1') });
        await expectCode(
          store.transitionStage({ model: 'm', version: 2, to: 'staging', reason: 'x' }),
          'CAIRN_METADATA_NOT_FOUND',
        );
        expect(await store.modelHistory('m')).toEqual([]);
      });

      it('two concurrent promotions of different versions from none: both accepted, one production remains', async () => {
        const store = await open();
        for (const w of ['w1', 'w2']) await store.registerModel({ model: 'm', digest: digestOf(w) });
        const [a, b] = await Promise.all([
          store.transitionStage({
            model: 'm',
            version: 1,
            to: 'production',
            reason: 'a',
            expectedFrom: 'none',
          }),
          store.transitionStage({
            model: 'm',
            version: 2,
            to: 'production',
            reason: 'b',
            expectedFrom: 'none',
          }),
        ]);
        expect(a.accepted && b.accepted).toBe(true);
        const stages = [
          (await store.getModelVersion('m', 1))!.stage,
          (await store.getModelVersion('m', 2))!.stage,
        ].sort();
        expect(stages).toEqual(['archived', 'production']);
        const history = await store.modelHistory('m');
        const lastPromotion = history.filter((t) => t.to === 'production' && t.accepted).at(-1)!;
        expect((await store.getModelByStage('m', 'production'))?.version).toBe(lastPromotion.version);
        expect(history.filter((t) => t.to === 'archived' && t.accepted)).toHaveLength(1);
        expect(history).toHaveLength(3);
      });

      it('two concurrent promotions of the same version from none: one wins, one conflicts', async () => {
        const store = await open();
        await store.registerModel({ model: 'm', digest: digestOf('w1') });
        const results = await Promise.allSettled([
          store.transitionStage({
            model: 'm',
            version: 1,
            to: 'production',
            reason: 'a',
            expectedFrom: 'none',
          }),
          store.transitionStage({
            model: 'm',
            version: 1,
            to: 'production',
            reason: 'b',
            expectedFrom: 'none',
          }),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        expect(rejected).toHaveLength(1);
        expect(CairnError.is(rejected[0]!.reason) && rejected[0]!.reason.code).toBe(
          'CAIRN_REGISTRY_CONFLICT',
        );
        const history = await store.modelHistory('m');
        expect(history.map((t) => t.accepted)).toEqual([true, false]);
      });

      it('two gates that compared against the same production version: one wins, the other conflicts (expectedIncumbent)', async () => {
        const store = await open();
        for (const w of ['w1', 'w2', 'w3']) await store.registerModel({ model: 'm', digest: digestOf(w) });
        await store.transitionStage({
          model: 'm',
          version: 1,
          to: 'production',
          reason: 'first',
          expectedIncumbent: null,
        });
        const results = await Promise.allSettled(
          [2, 3].map((version) =>
            store.transitionStage({
              model: 'm',
              version,
              to: 'production',
              reason: `beats v1 (${version})`,
              expectedFrom: 'none',
              expectedIncumbent: 1,
            }),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{
          version: number;
        }>[];
        const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(CairnError.is(lost[0]!.reason) && lost[0]!.reason.code).toBe('CAIRN_REGISTRY_CONFLICT');
        expect(String(lost[0]!.reason.message)).toMatch(/production/);
        const winner = won[0]!.value.version;
        const loser = winner === 2 ? 3 : 2;
        expect((await store.getModelByStage('m', 'production'))?.version).toBe(winner);
        expect((await store.getModelVersion('m', loser))?.stage).toBe('none');
        expect((await store.getModelVersion('m', 1))?.stage).toBe('archived');
        const history = await store.modelHistory('m');
        expect(history.filter((t) => t.version === loser && t.to === 'production')).toMatchObject([
          { accepted: false },
        ]);
        expect(history.filter((t) => t.version === winner && t.to === 'production')).toMatchObject([
          { accepted: true },
        ]);
        // with the incumbent it actually saw, the loser can try again
        await store.transitionStage({
          model: 'm',
          version: loser,
          to: 'staging',
          reason: 'retry as staging',
          expectedIncumbent: null,
        });
      });

      // The stage rule is `planStageTransition` beside the contract; every store applies it under its
      // own lock. Each case sets a model up, asks one transition, and checks the outcome written here
      // and that the store recorded exactly the plan the shared rule makes from the state it was in.
      const ruleCases: Array<{
        title: string;
        setup: Array<Omit<TransitionInput, 'model' | 'reason'>>;
        ask: Omit<TransitionInput, 'model' | 'reason'>;
        refused: boolean;
        /** Stages of v1…v4 afterwards. */
        stages: [ModelStage, ModelStage, ModelStage, ModelStage];
      }> = [
        {
          title: 'promoting archives the previous production version',
          setup: [{ version: 1, to: 'production' }],
          ask: { version: 2, to: 'production' },
          refused: false,
          stages: ['archived', 'production', 'none', 'none'],
        },
        {
          title: 'expectedIncumbent is the newest holder; every holder is archived, oldest first',
          setup: [
            { version: 1, to: 'production' },
            { version: 2, to: 'production', archivePrevious: false },
          ],
          ask: { version: 3, to: 'production', expectedIncumbent: 2 },
          refused: false,
          stages: ['archived', 'archived', 'production', 'none'],
        },
        {
          title: 'expectedIncumbent naming an older holder is refused',
          setup: [
            { version: 1, to: 'production' },
            { version: 2, to: 'production', archivePrevious: false },
          ],
          ask: { version: 3, to: 'production', expectedIncumbent: 1 },
          refused: true,
          stages: ['production', 'production', 'none', 'none'],
        },
        {
          title: 'expectedIncumbent null while another version holds the stage is refused',
          setup: [{ version: 1, to: 'staging' }],
          ask: { version: 2, to: 'staging', expectedIncumbent: null },
          refused: true,
          stages: ['staging', 'none', 'none', 'none'],
        },
        {
          title: 'the version itself is never its own incumbent',
          setup: [{ version: 1, to: 'production' }],
          ask: { version: 1, to: 'production', expectedIncumbent: null, expectedFrom: 'production' },
          refused: false,
          stages: ['production', 'none', 'none', 'none'],
        },
        {
          title: 'archiving does not archive the other archived versions',
          setup: [
            { version: 1, to: 'archived' },
            { version: 2, to: 'production' },
          ],
          ask: { version: 2, to: 'archived', expectedFrom: 'production' },
          refused: false,
          stages: ['archived', 'archived', 'none', 'none'],
        },
        {
          title: 'expectedFrom is checked before expectedIncumbent',
          setup: [{ version: 1, to: 'production' }],
          ask: { version: 2, to: 'production', expectedFrom: 'staging', expectedIncumbent: 1 },
          refused: true,
          stages: ['production', 'none', 'none', 'none'],
        },
        {
          title: 'archivePrevious: false with a matching expectedIncumbent leaves the incumbent in place',
          setup: [{ version: 4, to: 'staging' }],
          ask: { version: 3, to: 'staging', expectedIncumbent: 4, archivePrevious: false },
          refused: false,
          stages: ['none', 'none', 'staging', 'staging'],
        },
      ];
      for (const rule of ruleCases) {
        it(`stage rule: ${rule.title}`, async () => {
          const store = await open();
          for (const w of ['w1', 'w2', 'w3', 'w4'])
            await store.registerModel({ model: 'm', digest: digestOf(w) });
          for (const step of rule.setup)
            await store.transitionStage({ model: 'm', reason: 'setup', ...step });
          const input: TransitionInput = { model: 'm', reason: 'asked', actor: 'rule', ...rule.ask };
          const before = await store.listModelVersions('m');
          const state = {
            current: before.find((v) => v.version === input.version)?.stage,
            holders: before.filter((v) => v.version !== input.version && v.stage === input.to),
          };
          const historyBefore = (await store.modelHistory('m')).length;
          const plan = planStageTransition(input, state);

          const outcome = await store.transitionStage(input).then(
            (transition) => ({ transition }),
            (error: unknown) => ({ error }),
          );
          if (rule.refused) {
            expect('error' in outcome && CairnError.is(outcome.error) && outcome.error.code).toBe(
              'CAIRN_REGISTRY_CONFLICT',
            );
            expect((outcome as { error: CairnError }).error.message).toBe(plan.conflict?.message);
          } else {
            expect('transition' in outcome, String((outcome as { error?: unknown }).error)).toBe(true);
            const { at: _at, ...expected } = plan.transitions.at(-1)!;
            expect((outcome as { transition: StageTransition }).transition).toMatchObject(expected);
          }
          const recorded = (await store.modelHistory('m')).slice(historyBefore);
          const strip = ({ at: _at, ...t }: StageTransition) => t;
          expect(recorded.map(strip)).toEqual(plan.transitions.map(strip));
          expect(recorded.at(-1)).toMatchObject({
            version: input.version,
            to: input.to,
            accepted: !rule.refused,
          });
          const after = await Promise.all([1, 2, 3, 4].map((v) => store.getModelVersion('m', v)));
          expect(after.map((v) => v?.stage)).toEqual(rule.stages);
        });
      }
    });
  });
}
