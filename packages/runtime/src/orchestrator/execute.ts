/**
 * Executing one step that the cache could not answer: hand its task to the
 * executor (or run it here when it uses what the run holds), check that it
 * produced every declared output, retry by its policy, and record the
 * outcome.
 */
import {
  type ArtifactRef,
  CairnError,
  ErrorCodes,
  type Executor,
  type ModelRegistry,
  type PipelineNode,
  type PlanReason,
  type RetryPolicy,
  type StepLogLine,
  type StepTask,
  type StorageDriver,
} from '@cairn/core';
import { runStepTask } from '../runner';
import { monotonicMs } from './clock';
import { newId } from './ids';
import type { PreparedRun } from './prepare';
import { now, type RunRecorder, recordFailed, recordSucceeded } from './records';
import { type RunServices, usesServices } from './services';
import type { VerifiedStamps } from './stamps';
import { StepLogBuffer, writeStepLog } from './step-log';
import type { StepOutcome } from './types';

/** What executing a step needs from its run. */
export interface StepExecution {
  run: RunRecorder;
  prepared: PreparedRun;
  storage: StorageDriver;
  /** Makes every output written without its own fsync durable (see deferredSyncOf). */
  syncOutputs?: () => Promise<void>;
  executor: Executor;
  services: RunServices;
  signal: AbortSignal;
  pipeline: { module: string; name: string };
  tmpDir: string;
  /** Where step logs are kept (`<stateDir>/logs`) and how many bytes of each (0: none). */
  logs: { stateDir: string; limitBytes: number };
  /** Stamps of verified local objects: cached outputs checked by stat, new outputs stamped (see ./stamps). */
  stamps?: VerifiedStamps;
}

/** Run `node` until it succeeds or its attempts are spent; never throws for a step failure. */
export async function executeStep(
  context: StepExecution,
  node: PipelineNode,
  step: {
    key: string;
    cacheable: boolean;
    inputs: Record<string, ArtifactRef>;
    reason: PlanReason;
    detail?: string;
    started: number;
  },
): Promise<StepOutcome> {
  const { run, signal } = context;
  const definition = node.step.definition;
  const executionId = newId('e');
  const startedAt = now();
  const { attempts: maxAttempts, backoffMs } = retryPolicy(definition.retries);
  const task = stepTask(context, node, executionId, step.inputs);
  const base = {
    step: node.name,
    cacheKey: step.key,
    cacheable: step.cacheable,
    inputs: step.inputs,
    // Recorded in the words of the step.started event, so the dashboard need not re-derive it.
    reason: step.detail ? `${step.reason}: ${step.detail}` : step.reason,
  };
  const log = new StepLogBuffer(context.logs.limitBytes);
  let attempt = 0;
  let lastError: { code?: string; message: string } | undefined;
  while (attempt < maxAttempts) {
    attempt++;
    task.attempt = attempt;
    run.emit({
      type: 'step.started',
      runId: run.runId,
      at: now(),
      step: node.name,
      attempt,
      reason: step.reason,
      ...(step.detail ? { detail: step.detail } : {}),
    });
    try {
      const produced = await dispatch(context, node, task, log);
      const outputs = await checkProduced(context.storage, node, produced);
      const durationMs = monotonicMs() - step.started;
      // Most steps log nothing, and the record queue mostly has room: no await (a promise each) then.
      if (!log.empty) await keepLog(context, node.name, executionId, log);
      const room = recordSucceeded(run, {
        ...base,
        executionId,
        startedAt,
        durationMs,
        attempts: attempt,
        outputs,
        produced,
      });
      if (room) await room;
      return {
        status: 'succeeded',
        reason: step.reason,
        executionId,
        durationMs,
        attempts: attempt,
        outputs,
      };
    } catch (error) {
      // Scrubbed here, before the error reaches the store, the events or the result.
      lastError = run.scrub.deep(errorSummary(error));
      if (signal.aborted || attempt >= maxAttempts || !retryable(error)) break;
      const delayMs = backoffMs * 2 ** (attempt - 1);
      run.emit({
        type: 'step.retrying',
        runId: run.runId,
        at: now(),
        step: node.name,
        attempt: attempt + 1,
        delayMs,
        error: lastError,
      });
      await sleep(delayMs, signal);
    }
  }
  const cancelled = signal.aborted;
  const durationMs = monotonicMs() - step.started;
  const error = lastError ?? { message: 'unknown error' };
  await keepLog(context, node.name, executionId, log);
  await recordFailed(run, {
    ...base,
    executionId,
    startedAt,
    durationMs,
    attempts: attempt,
    cancelled,
    error,
  });
  return {
    status: cancelled ? 'cancelled' : 'failed',
    reason: step.reason,
    executionId,
    durationMs,
    attempts: attempt,
    outputs: {},
    error,
  };
}

function stepTask(
  context: StepExecution,
  node: PipelineNode,
  executionId: string,
  inputs: Record<string, ArtifactRef>,
): StepTask {
  const definition = node.step.definition;
  return {
    runId: context.run.runId,
    executionId,
    step: node.name,
    pipeline: { module: context.pipeline.module, export: '*', name: context.pipeline.name },
    config: context.prepared.configs.get(node.name)!.value,
    storedConfig: context.prepared.configs.get(node.name)!.stored,
    inputs,
    attempt: 1,
    tmpDir: context.tmpDir,
    projectDir: context.prepared.projectDir,
    stateDir: context.prepared.stateDir,
    ...(definition.timeoutMs ? { timeoutMs: definition.timeoutMs } : {}),
    ...(context.storage.ref ? { storage: context.storage.ref } : {}),
  };
}

/** Steps that use what the run holds (registry, deployer, A/B engine) run here, whatever the executor. */
async function dispatch(
  context: StepExecution,
  node: PipelineNode,
  task: StepTask,
  log: StepLogBuffer,
): Promise<Record<string, ArtifactRef & { metadata?: unknown }>> {
  const { run, signal } = context;
  const onLog = (line: StepLogLine) => {
    const at = now();
    run.emit({ type: 'step.log', runId: run.runId, at, step: node.name, ...line });
    // Scrubbed before it is kept: the stored log never holds a resolved secret.
    log.add(run.scrub.deep({ at, ...line, attempt: task.attempt }));
  };
  const definition = node.step.definition;
  // A step that registers, deploys or experiments may make a durable record name its inputs:
  // every output written so far without its own fsync is synced first.
  if (usesServices(definition)) await context.syncOutputs?.();
  const result = usesServices(definition)
    ? await runStepTask(task, {
        storage: context.storage,
        signal,
        onLog,
        step: node.step,
        ...scrubbedServices(await context.services.for(definition), run),
      })
    : await context.executor.execute(task, { signal, onLog, local: { step: node.step } });
  return result.outputs;
}

/**
 * Store what the execution logged, before its record: whoever sees the
 * execution can read its log. A log that cannot be written costs the log, not
 * the step, and says so in the event stream.
 */
async function keepLog(
  context: StepExecution,
  step: string,
  executionId: string,
  log: StepLogBuffer,
): Promise<void> {
  if (log.empty) return;
  const { run } = context;
  try {
    await writeStepLog(context.logs.stateDir, log.toLog({ runId: run.runId, executionId, step }));
  } catch (error) {
    run.emit({
      type: 'step.log',
      runId: run.runId,
      at: now(),
      step,
      level: 'warn',
      message: `The step's log could not be stored: ${(error as Error).message}`,
    });
  }
}

/**
 * The registry keeps what a step registers for good: a description built
 * from the resolved config stores the `${env:…}` reference, not the secret.
 */
function scrubbedServices<T extends { registry?: ModelRegistry }>(services: T, run: RunRecorder): T {
  const { registry } = services;
  if (!registry) return services;
  const registerModel: ModelRegistry['registerModel'] = (input) =>
    registry.registerModel(run.scrub.deep(input));
  // A proxy, not a copy: the registry may be a class instance whose methods need their own `this`.
  const scrubbed = new Proxy(registry, {
    get(target, property) {
      if (property === 'registerModel') return registerModel;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...services, registry: scrubbed };
}

/** Every declared output exists, has the declared type, and is in storage with the reported size. */
async function checkProduced(
  storage: StorageDriver,
  node: PipelineNode,
  produced: Record<string, ArtifactRef & { metadata?: unknown }>,
): Promise<Record<string, ArtifactRef>> {
  const outputs: Record<string, ArtifactRef> = {};
  const problems: string[] = [];
  for (const [name, type] of Object.entries(node.step.definition.outputs)) {
    const ref = produced[name];
    const expected = (type as { name: string }).name;
    if (!ref) problems.push(`missing output "${name}"`);
    else if (ref.type !== expected) problems.push(`output "${name}" is ${ref.type}, declared ${expected}`);
    else {
      const stat = await storage.stat(ref.digest);
      if (!stat) problems.push(`output "${name}" (${ref.digest.slice(0, 12)}) is not in storage`);
      else if (stat.size !== ref.size)
        problems.push(`output "${name}" has ${stat.size} bytes in storage, ${ref.size} reported`);
      else outputs[name] = { digest: ref.digest, type: ref.type, size: ref.size };
    }
  }
  if (problems.length > 0) {
    throw new CairnError(
      ErrorCodes.STEP_OUTPUT_INVALID,
      `Step "${node.name}" did not produce its declared outputs: ${problems.join('; ')}`,
    );
  }
  return outputs;
}

function retryPolicy(policy: RetryPolicy | undefined): { attempts: number; backoffMs: number } {
  if (policy === undefined) return { attempts: 1, backoffMs: 0 };
  if (typeof policy === 'number') return { attempts: 1 + policy, backoffMs: 200 };
  return { attempts: 1 + policy.attempts, backoffMs: policy.backoffMs ?? 200 };
}

/** Invalid outputs and cancellations are not worth retrying; step failures and timeouts are. */
function retryable(error: unknown): boolean {
  if (!CairnError.is(error)) return true;
  return ![
    ErrorCodes.RUN_CANCELLED,
    ErrorCodes.STEP_OUTPUT_INVALID,
    ErrorCodes.PIPELINE_NOT_FOUND,
    ErrorCodes.STEP_INVALID,
  ].includes(error.code as never);
}

function errorSummary(error: unknown): { code?: string; message: string } {
  if (CairnError.is(error)) return { code: error.code, message: error.message };
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    if (signal.aborted) return resolveSleep();
    const timer = setTimeout(resolveSleep, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolveSleep();
      },
      { once: true },
    );
  });
}
