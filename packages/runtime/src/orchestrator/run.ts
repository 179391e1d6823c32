import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type ArtifactRef,
  CairnError,
  type CairnEvent,
  ErrorCodes,
  type Executor,
  type Pipeline,
  type PipelineNode,
  type RunCounts,
  type RunRecord,
  type StorageDriver,
} from '@cairn/core';
import { inProcess } from '../executors/in-process';
import { reclaimScratch } from '../scratch';
import { stateDirOf } from '../state-dir';
import { deferredSyncOf, localFileOf } from '../storage/local';
import { cacheKey, decideCache, PreviousExecutions } from './cache';
import { monotonicMs } from './clock';
import { rememberCode } from './code';
import { executeStep, type StepExecution } from './execute';
import { newId } from './ids';
import { holdLease, leaseTimings, markAbandonedRuns, newLease } from './lease';
import { type PreparedRun, prepareRun } from './prepare';
import { runProvenance } from './provenance';
import {
  now,
  RecordQueue,
  type RecordTicket,
  type RunRecorder,
  recordCached,
  recordSkipped,
  storeConfigBundle,
} from './records';
import { schedule } from './schedule';
import { secretScrubber } from './secrets';
import { runServices } from './services';
import { type PipelineSlice, resolveUpstream, sliceOf } from './slice';
import { VerifiedStamps } from './stamps';
import { STEP_LOG_LIMIT_BYTES } from './step-log';
import type { RunOptions, RunResult, StepOutcome } from './types';

/**
 * Run a pipeline: resolve and validate every config, open a run record,
 * reuse what is cached and verified, execute the rest through the executor
 * (up to its concurrency), check and record every output with its lineage,
 * retry per step policy, skip what depends on a failure, and honour abort.
 *
 * Configuration and graph errors throw before anything is recorded. Step
 * failures do not throw: they are in the returned result (`status: 'failed'`).
 *
 * @example
 * ```ts
 * const result = await runPipeline(training, { storage: localStore('.cairn/artifacts'), metadata: memoryMetadata() });
 * console.log(result.status, result.counts);
 * ```
 */
export async function runPipeline(pipeline: Pipeline, options: RunOptions): Promise<RunResult> {
  const started = monotonicMs();
  const { storage, metadata } = options;
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const slice = sliceOf(pipeline, options);
  const [prepared, provenance] = await Promise.all([
    prepareRun(pipeline, options),
    runProvenance(projectDir, stateDirOf(projectDir, options.stateDir)),
  ]);
  const timings = leaseTimings(options.lease);
  if (options.signal?.aborted)
    throw new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled before it started');
  const scrub = secretScrubber(prepared);
  await metadata.init?.();
  const tmpDir = resolve(options.tmpDir ?? join(prepared.stateDir, 'tmp'));
  const services = runServices(options, prepared.projectDir);
  const stamps =
    options.verifyOutputs === 'full' ? undefined : VerifiedStamps.for(storage, prepared.stateDir);
  // Closed however the run ends, including a refusal before it is recorded.
  try {
    const previous = new PreviousExecutions(metadata, pipeline.name, pipeline.nodes.length);
    // A slice reads its upstream from the cache; when a result is missing the run is refused before it is recorded.
    const upstream = slice
      ? await resolveUpstream(slice, prepared, { storage, metadata, previous, tmpDir, services, stamps })
      : undefined;
    // Runs whose process is gone are closed, and the workdirs of killed runs (their resolved config.json
    // included) go, before this run adds its own.
    await Promise.all([markAbandonedRuns(metadata), reclaimScratch(tmpDir)]);
    return await recordAndDrive(pipeline, options, prepared, provenance, {
      tmpDir,
      started,
      services,
      previous,
      slice,
      upstream,
      scrub,
      timings,
      stamps,
    });
  } finally {
    await services.close();
    stamps?.save();
  }
}

type Provenance = Awaited<ReturnType<typeof runProvenance>>;

/** What a run has settled before it is recorded, handed on to the parts that record and drive it. */
interface RunSetup {
  tmpDir: string;
  started: number;
  services: ReturnType<typeof runServices>;
  previous: PreviousExecutions;
  slice: PipelineSlice | undefined;
  upstream: Awaited<ReturnType<typeof resolveUpstream>> | undefined;
  scrub: ReturnType<typeof secretScrubber>;
  timings: ReturnType<typeof leaseTimings>;
  stamps: VerifiedStamps | undefined;
}

/** Record the run (with its lease) and drive it; the lease is renewed until it ends, however it ends. */
async function recordAndDrive(
  pipeline: Pipeline,
  options: RunOptions,
  prepared: PreparedRun,
  provenance: Provenance,
  setup: RunSetup,
): Promise<RunResult> {
  const { storage, metadata } = options;
  const { slice, scrub, timings } = setup;
  const onEvent = options.onEvent ?? (() => {});
  const { bundle, configDigests } = await storeConfigBundle(pipeline, prepared, storage);
  const record: RunRecord = {
    id: newId('r'),
    pipeline: pipeline.name,
    env: prepared.env,
    status: 'running',
    startedAt: now(),
    versions: provenance.versions,
    configs: configDigests,
    configBundle: bundle.digest,
    host: { hostname: hostname(), pid: process.pid },
    lease: newLease(timings),
    ...(provenance.git ? { git: provenance.git } : {}),
    ...(options.tags || slice ? { tags: { ...options.tags, ...(slice ? { slice: slice.label } : {}) } } : {}),
  };
  await metadata.createRun(record);
  setup.previous.ownRun = record.id;
  // Steps run here write outputs without an fsync each; a batch's outputs are synced together
  // before its records are committed (see deferredSyncOf).
  const deferred = deferredSyncOf(storage);
  const records = new RecordQueue(metadata, onEvent, deferred?.sync);
  const run: RunRecorder = {
    runId: record.id,
    metadata,
    // Events carry step errors and log lines: no resolved secret leaves through them.
    emit: (event: CairnEvent, after?: RecordTicket) => records.emit(scrub.deep(event), after),
    records,
    bundle,
    configDigests,
    counts: { executed: 0, cached: 0, failed: 0, skipped: 0 },
    scrub,
  };
  // Renewed until the run ends, however it ends: a run that throws must not look alive for a lease more.
  const lease = holdLease(metadata, record.id, timings);
  try {
    return await driveRun(pipeline, options, run, prepared, {
      ...setup,
      startedAt: record.startedAt,
      deferred,
    });
  } catch (error) {
    // A run that throws (an event listener that threw, a store that failed at the end) is closed
    // `failed` with the reason, not left `running` until another process judges it abandoned.
    const reason = run.scrub.text((error as Error)?.message?.split('\n')[0] ?? String(error));
    await metadata
      .abandonRun(record.id, { finishedAt: now(), error: `the run stopped: ${reason}` })
      .catch(() => {});
    throw error;
  } finally {
    await lease.stop();
  }
}

/** The recorded run: its steps, scheduled up to the executor's concurrency, until it finishes. */
async function driveRun(
  pipeline: Pipeline,
  options: RunOptions,
  run: RunRecorder,
  prepared: PreparedRun,
  setup: RunSetup & { startedAt: string; deferred: ReturnType<typeof deferredSyncOf> },
): Promise<RunResult> {
  const { tmpDir, started, startedAt, deferred, services, previous, slice, upstream, stamps } = setup;
  const involved = slice ? [...slice.upstream, ...slice.steps] : pipeline.nodes;
  run.emit({
    type: 'run.started',
    runId: run.runId,
    at: startedAt,
    pipeline: pipeline.name,
    env: prepared.env,
    steps: involved.map((n) => n.name),
  });

  const stepStorage = deferred?.storage ?? options.storage;
  const executor = await startExecutor(run, options, stepStorage, started);
  const controller = new AbortController();
  const onAbort = () => controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const outcomes = new Map<string, StepOutcome>();
  try {
    for (const [name, result] of upstream ?? []) {
      const node = pipeline.node(name)!;
      const executionId = recordCached(run, {
        step: name,
        cacheKey: result.key,
        cacheable: node.step.definition.cache !== false,
        inputs: result.inputs,
        cachedFrom: result.entry.executionId,
        outputs: result.entry.outputs,
        durationMs: 0,
      });
      outcomes.set(name, {
        status: 'cached',
        reason: 'cached',
        executionId,
        durationMs: 0,
        attempts: 0,
        outputs: result.entry.outputs,
      });
    }
    const context: StepExecution = {
      run,
      prepared,
      storage: stepStorage,
      ...(deferred ? { syncOutputs: () => deferred.sync() } : {}),
      executor,
      services,
      signal: controller.signal,
      pipeline: { module: pipeline.module ?? '', name: pipeline.name },
      tmpDir,
      logs: {
        stateDir: prepared.stateDir,
        limitBytes: options.stepLogBytes ?? STEP_LOG_LIMIT_BYTES,
      },
      ...(stamps ? { stamps } : {}),
    };
    const limit = Math.max(1, Math.min(options.concurrency ?? executor.concurrency, executor.concurrency));
    await schedule(
      slice ? slice.steps : pipeline.nodes,
      limit,
      controller.signal,
      (node) =>
        processNode(context, node, outcomes, previous, options.noCache === true).then((outcome) => {
          outcomes.set(node.name, outcome);
          return outcome.status === 'succeeded' || outcome.status === 'cached';
        }),
      async (node, reason) => {
        outcomes.set(node.name, { status: 'skipped', reason: 'upstream-failed', outputs: {} });
        const message =
          reason === 'cancelled' ? 'the run was cancelled' : `upstream step "${reason}" did not succeed`;
        await recordSkipped(run, node.name, message);
      },
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await executor.close().catch(() => {});
    // Whatever the scheduler did, the records already made reach the store (failures rethrow below).
    await run.records.settle().catch(() => {});
  }
  await run.records.settle();
  return finishRun(run, pipeline.name, involved, prepared.env, outcomes, controller.signal.aborted, started);
}

/** Create the executor; one that cannot start (a queue server down) ends the run `failed`, not `running`. */
async function startExecutor(
  run: RunRecorder,
  options: RunOptions,
  storage: StorageDriver,
  started: number,
): Promise<Executor> {
  try {
    return await (options.executor ?? inProcess()).create({
      storage,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
  } catch (error) {
    const message = run.scrub.text((error as Error).message.split('\n')[0] ?? 'the executor could not start');
    const finishedAt = now();
    const counts: RunCounts = { executed: 0, cached: 0, failed: 0, skipped: 0 };
    const line = `executor: ${message}`;
    await run.metadata.updateRun(run.runId, { status: 'failed', finishedAt, counts, error: line });
    run.emit({
      type: 'run.finished',
      runId: run.runId,
      at: finishedAt,
      status: 'failed',
      durationMs: monotonicMs() - started,
      counts,
      error: line,
    });
    throw error;
  }
}

/**
 * One node: reuse a verified cached execution, else execute it (also what `execRunStep` runs).
 * @internal
 */
export async function processNode(
  context: StepExecution,
  node: PipelineNode,
  outcomes: Map<string, StepOutcome>,
  previous: PreviousExecutions,
  noCache: boolean,
): Promise<StepOutcome> {
  const started = monotonicMs();
  const inputs: Record<string, ArtifactRef> = {};
  for (const [name, wire] of Object.entries(node.inputs)) {
    inputs[name] = outcomes.get(wire.node)!.outputs[wire.output]!;
  }
  const { prepared, run } = context;
  const key = cacheKey(node, prepared, inputs);
  const cacheable = node.step.definition.cache !== false;
  const decision = await decideCache(node, prepared, key, inputs, {
    storage: context.storage,
    metadata: run.metadata,
    previous,
    tmpDir: context.tmpDir,
    services: context.services,
    ...(noCache ? { noCache: true } : {}),
    ...(context.stamps ? { stamps: context.stamps } : {}),
  });
  if ('reuse' in decision) {
    const { executionId: cachedFrom, outputs } = decision.reuse;
    const durationMs = monotonicMs() - started;
    const executionId = recordCached(run, {
      step: node.name,
      cacheKey: key,
      cacheable,
      inputs,
      cachedFrom,
      outputs,
      durationMs,
    });
    return { status: 'cached', reason: 'cached', executionId, durationMs, attempts: 0, outputs };
  }
  // A cached result whose bytes are gone or corrupt is never used: forget it and rebuild.
  if (decision.broken) await run.metadata.invalidateCache(key);
  const outcome = await executeStep(context, node, {
    key,
    cacheable,
    inputs,
    reason: decision.reason,
    ...(decision.detail ? { detail: decision.detail } : {}),
    started,
  });
  // What this code consisted of, so that a later run can name the file that changed. Only for
  // the reason's wording: a state folder that refuses the write must not fail a finished step.
  if (outcome.status === 'succeeded') {
    // Bytes the store hashed as it wrote them, stamped right after the step: a rerun checks them by stat.
    if (context.stamps) {
      // The stamp's own stat is enough (checkProduced already found each output in storage).
      for (const ref of Object.values(outcome.outputs)) {
        const found = localFileOf(context.storage, ref.digest);
        const path = typeof found === 'object' ? await found : found;
        if (path) context.stamps.produced(path, ref.digest);
      }
    }
    const { definition } = node.step;
    const remembering = rememberCode(prepared.stateDir, definition.name, prepared.code.get(node.name)!);
    if (remembering) await remembering.catch(() => {});
  }
  return outcome;
}

/** Close the run record with its status, counts and first error; the result per step. */
async function finishRun(
  run: RunRecorder,
  pipeline: string,
  nodes: readonly PipelineNode[],
  env: string,
  outcomes: Map<string, StepOutcome>,
  cancelled: boolean,
  started: number,
): Promise<RunResult> {
  const { counts } = run;
  const { firstError } = run;
  const status = cancelled ? 'cancelled' : counts.failed > 0 ? 'failed' : 'succeeded';
  const finishedAt = now();
  const errorLine = firstError
    ? `${firstError.step}: ${firstError.message.split('\n')[0]}`
    : cancelled
      ? 'cancelled'
      : undefined;
  await run.metadata.updateRun(run.runId, {
    status,
    finishedAt,
    counts,
    ...(errorLine ? { error: errorLine } : {}),
  });
  const durationMs = monotonicMs() - started;
  run.emit({
    type: 'run.finished',
    runId: run.runId,
    at: finishedAt,
    status,
    durationMs,
    counts,
    ...(errorLine ? { error: errorLine } : {}),
  });
  const steps: Record<string, StepOutcome> = {};
  for (const node of nodes)
    steps[node.name] = outcomes.get(node.name) ?? {
      status: 'skipped',
      reason: 'upstream-failed',
      outputs: {},
    };
  return {
    runId: run.runId,
    pipeline,
    env,
    status,
    durationMs,
    counts,
    steps,
    ...(firstError
      ? { error: firstError }
      : cancelled
        ? { error: { code: ErrorCodes.RUN_CANCELLED, message: 'The run was cancelled' } }
        : {}),
  };
}

export type { CairnEvent, ExecutionRecord } from '@cairn/core';
