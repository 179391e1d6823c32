import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type ArtifactRef,
  CairnError,
  type CairnEvent,
  ErrorCodes,
  type Executor,
  newId,
  type Pipeline,
  type PipelineNode,
  type RunCounts,
  type RunRecord,
} from '@cairn/core';
import { inProcess } from '../executors/in-process';
import { reclaimScratch } from '../scratch';
import { cacheKey, decideCache, previousExecutions } from './cache';
import { executeStep, type StepExecution } from './execute';
import { prepareRun } from './prepare';
import { markAbandonedRuns, runProvenance } from './provenance';
import { now, type RunRecorder, recordCached, recordSkipped, storeConfigBundle } from './records';
import { schedule } from './schedule';
import { secretScrubber } from './secrets';
import { runServices } from './services';
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
  const started = performance.now();
  const { storage, metadata } = options;
  const onEvent = options.onEvent ?? (() => {});
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const [prepared, provenance] = await Promise.all([
    prepareRun(pipeline, options),
    runProvenance(projectDir),
  ]);
  if (options.signal?.aborted)
    throw new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled before it started');
  const scrub = secretScrubber(prepared);
  // Events carry step errors and log lines: no resolved secret leaves through them.
  const emit = (event: CairnEvent) => onEvent(scrub.deep(event));
  await metadata.init?.();
  const tmpDir = resolve(options.tmpDir ?? join(prepared.projectDir, '.cairn', 'tmp'));
  // Workdirs of runs that were killed (their resolved config.json included) go before this run adds its own.
  await Promise.all([markAbandonedRuns(metadata), reclaimScratch(tmpDir)]);

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
    ...(provenance.git ? { git: provenance.git } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
  };
  await metadata.createRun(record);
  const run: RunRecorder = {
    runId: record.id,
    metadata,
    emit,
    bundle,
    configDigests,
    counts: { executed: 0, cached: 0, failed: 0, skipped: 0 },
    scrub,
  };
  emit({
    type: 'run.started',
    runId: run.runId,
    at: record.startedAt,
    pipeline: pipeline.name,
    env: prepared.env,
    steps: pipeline.nodes.map((n) => n.name),
  });

  const executor = await startExecutor(run, options, started);
  const controller = new AbortController();
  const onAbort = () => controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const services = runServices(options, prepared.projectDir);
  const outcomes = new Map<string, StepOutcome>();
  try {
    const context: StepExecution = {
      run,
      prepared,
      storage,
      executor,
      services,
      signal: controller.signal,
      pipeline: { module: pipeline.module ?? '', name: pipeline.name },
      tmpDir,
      logs: {
        stateDir: resolve(prepared.projectDir, options.stateDir ?? '.cairn'),
        limitBytes: options.stepLogBytes ?? STEP_LOG_LIMIT_BYTES,
      },
    };
    const previous = await previousExecutions(metadata, pipeline.name, pipeline.nodes.length);
    const limit = Math.max(1, Math.min(options.concurrency ?? executor.concurrency, executor.concurrency));
    await schedule(
      pipeline,
      limit,
      controller.signal,
      async (node) => {
        const outcome = await processNode(context, node, outcomes, previous, options.noCache === true);
        outcomes.set(node.name, outcome);
        return outcome.status === 'succeeded' || outcome.status === 'cached';
      },
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
    await services.close();
  }
  return finishRun(run, pipeline, prepared.env, outcomes, controller.signal.aborted, started);
}

/** Create the executor; one that cannot start (a queue server down) ends the run `failed`, not `running`. */
async function startExecutor(run: RunRecorder, options: RunOptions, started: number): Promise<Executor> {
  try {
    return await (options.executor ?? inProcess()).create({
      storage: options.storage,
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
      durationMs: performance.now() - started,
      counts,
      error: line,
    });
    throw error;
  }
}

/** One node: reuse a verified cached execution, else execute it. */
async function processNode(
  context: StepExecution,
  node: PipelineNode,
  outcomes: Map<string, StepOutcome>,
  previous: Awaited<ReturnType<typeof previousExecutions>>,
  noCache: boolean,
): Promise<StepOutcome> {
  const started = performance.now();
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
  });
  if ('reuse' in decision) {
    const { executionId: cachedFrom, outputs } = decision.reuse;
    const durationMs = performance.now() - started;
    const executionId = await recordCached(run, {
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
  return executeStep(context, node, {
    key,
    cacheable,
    inputs,
    reason: decision.reason,
    ...(decision.detail ? { detail: decision.detail } : {}),
    started,
  });
}

/** Close the run record with its status, counts and first error; the result per step. */
async function finishRun(
  run: RunRecorder,
  pipeline: Pipeline,
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
  const durationMs = performance.now() - started;
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
  for (const node of pipeline.nodes)
    steps[node.name] = outcomes.get(node.name) ?? {
      status: 'skipped',
      reason: 'upstream-failed',
      outputs: {},
    };
  return {
    runId: run.runId,
    pipeline: pipeline.name,
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
