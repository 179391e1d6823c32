import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  type ArtifactRecord,
  type ArtifactRef,
  CairnError,
  type CairnEvent,
  canonicalJson,
  ErrorCodes,
  type ExecutionRecord,
  type Executor,
  newId,
  type Pipeline,
  type PipelineNode,
  type PlanReason,
  type RetryPolicy,
  type RunCounts,
  type RunRecord,
  type StepLogLine,
  type StepTask,
  sha256,
} from '@cairn/core';
import { inProcess } from '../executors/in-process';
import { runStepTask } from '../runner';
import { RUNTIME_VERSION } from '../version';
import { cacheKey, decideCache, prepareRun, previousExecutions } from './prepare';
import { runServices, usesServices } from './services';
import type { RunOptions, RunResult, StepOutcome } from './types';

const execFileAsync = promisify(execFile);

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
  const emit = options.onEvent ?? (() => {});
  const now = () => new Date().toISOString();

  const [prepared, git, versions] = await Promise.all([
    prepareRun(pipeline, options),
    gitState(resolve(options.projectDir ?? process.cwd())),
    packageVersions(resolve(options.projectDir ?? process.cwd())),
  ]);
  if (options.signal?.aborted)
    throw new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled before it started');
  await metadata.init?.();
  await markAbandonedRuns(options);

  const runId = newId('r');
  const tmpDir = resolve(options.tmpDir ?? join(prepared.projectDir, '.cairn', 'tmp'));

  // Every step's config in its stored form (secrets as ${env:…} references), as
  // one json artifact per run. A file per step cost more than everything else
  // in a cold step on a slow disk; each step's digest still names its config.
  const configDigests: Record<string, string> = {};
  const bundle: Record<string, unknown> = {};
  for (const node of pipeline.nodes) {
    const config = prepared.configs.get(node.name)!;
    configDigests[node.name] = config.digest;
    bundle[node.name] = config.stored;
  }
  const bundleBytes = new TextEncoder().encode(canonicalJson(bundle));
  const bundleStat = await storage.put(bundleBytes, { expectedDigest: sha256(bundleBytes) });
  const bundleRecord: ArtifactRecord = {
    digest: bundleStat.digest,
    size: bundleStat.size,
    type: 'json',
    createdAt: now(),
    metadata: { role: 'config-bundle', steps: pipeline.nodes.length },
  };

  const run: RunRecord = {
    id: runId,
    pipeline: pipeline.name,
    env: prepared.env,
    status: 'running',
    startedAt: now(),
    versions,
    configs: configDigests,
    configBundle: bundleRecord.digest,
    host: { hostname: hostname(), pid: process.pid },
    ...(git ? { git } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
  };
  await metadata.createRun(run);
  emit({
    type: 'run.started',
    runId,
    at: run.startedAt,
    pipeline: pipeline.name,
    env: prepared.env,
    steps: pipeline.nodes.map((n) => n.name),
  });

  let executor: Executor;
  try {
    executor = await (options.executor ?? inProcess()).create({
      storage,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
  } catch (error) {
    // The executor could not start (a queue server down): the run is over, not left `running`.
    const message = (error as Error).message.split('\n')[0] ?? 'the executor could not start';
    const finishedAt = now();
    const counts: RunCounts = { executed: 0, cached: 0, failed: 0, skipped: 0 };
    await metadata.updateRun(runId, { status: 'failed', finishedAt, counts, error: `executor: ${message}` });
    emit({
      type: 'run.finished',
      runId,
      at: finishedAt,
      status: 'failed',
      durationMs: performance.now() - started,
      counts,
      error: `executor: ${message}`,
    });
    throw error;
  }
  const limit = Math.max(1, Math.min(options.concurrency ?? executor.concurrency, executor.concurrency));
  const services = runServices(options, prepared.projectDir);

  const controller = new AbortController();
  const onAbort = () => controller.abort(new CairnError(ErrorCodes.RUN_CANCELLED, 'The run was cancelled'));
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const outcomes = new Map<string, StepOutcome>();
  const counts: RunCounts = { executed: 0, cached: 0, failed: 0, skipped: 0 };
  let firstError: RunResult['error'];

  try {
    const previous = await previousExecutions(metadata, pipeline.name, pipeline.nodes.length);
    await schedule(
      pipeline,
      limit,
      controller.signal,
      async (node) => {
        const outcome = await processNode(node);
        outcomes.set(node.name, outcome);
        return outcome.status === 'succeeded' || outcome.status === 'cached';
      },
      async (node, reason) => {
        const outcome: StepOutcome = { status: 'skipped', reason: 'upstream-failed', outputs: {} };
        outcomes.set(node.name, outcome);
        counts.skipped++;
        const message =
          reason === 'cancelled' ? 'the run was cancelled' : `upstream step "${reason}" did not succeed`;
        await metadata.recordExecution(
          {
            id: newId('e'),
            runId,
            step: node.name,
            status: 'skipped',
            cacheKey: '',
            cacheable: false,
            inputs: {},
            outputs: {},
            configDigest: configDigests[node.name]!,
            startedAt: now(),
            finishedAt: now(),
            attempts: 0,
            error: { message },
          },
          [],
        );
        emit({ type: 'step.skipped', runId, at: now(), step: node.name, reason: message });
      },
    );

    async function processNode(node: PipelineNode): Promise<StepOutcome> {
      const stepStarted = performance.now();
      const definition = node.step.definition;
      const inputs: Record<string, ArtifactRef> = {};
      for (const [name, wire] of Object.entries(node.inputs)) {
        inputs[name] = outcomes.get(wire.node)!.outputs[wire.output]!;
      }
      const key = cacheKey(node, prepared, inputs);
      const cacheable = definition.cache !== false;
      const configDigest = configDigests[node.name]!;

      const decision = await decideCache(node, prepared, key, inputs, {
        storage,
        metadata,
        previous,
        tmpDir,
        services,
        ...(options.noCache ? { noCache: true } : {}),
      });
      if ('reuse' in decision) {
        const entry = decision.reuse;
        const executionId = newId('e');
        const at = now();
        await metadata.recordExecution(
          {
            id: executionId,
            runId,
            step: node.name,
            status: 'cached',
            cacheKey: key,
            cacheable,
            cachedFrom: entry.executionId,
            inputs,
            outputs: entry.outputs,
            configDigest,
            startedAt: at,
            finishedAt: at,
            durationMs: 0,
            attempts: 0,
          },
          [bundleRecord],
        );
        counts.cached++;
        const durationMs = performance.now() - stepStarted;
        emit({
          type: 'step.cached',
          runId,
          at,
          step: node.name,
          durationMs,
          cachedFrom: entry.executionId,
          outputs: entry.outputs,
        });
        return {
          status: 'cached',
          reason: 'cached',
          executionId,
          durationMs,
          attempts: 0,
          outputs: entry.outputs,
        };
      }
      // A cached result whose bytes are gone or corrupt is never used: forget it and rebuild.
      if (decision.broken) await metadata.invalidateCache(key);
      const reason: PlanReason = decision.reason;

      const executionId = newId('e');
      const startedAt = now();
      const { attempts: maxAttempts, backoffMs } = retryPolicy(definition.retries);
      const task: StepTask = {
        runId,
        executionId,
        step: node.name,
        pipeline: { module: pipeline.module ?? '', export: '*', name: pipeline.name },
        config: prepared.configs.get(node.name)!.value,
        inputs,
        attempt: 1,
        tmpDir,
        projectDir: prepared.projectDir,
        ...(definition.timeoutMs ? { timeoutMs: definition.timeoutMs } : {}),
        ...(storage.ref ? { storage: storage.ref } : {}),
      };
      let attempt = 0;
      let lastError: { code?: string; message: string } | undefined;
      while (attempt < maxAttempts) {
        attempt++;
        task.attempt = attempt;
        emit({ type: 'step.started', runId, at: now(), step: node.name, attempt, reason });
        try {
          const onLog = (line: StepLogLine) =>
            emit({ type: 'step.log', runId, at: now(), step: node.name, ...line });
          // Steps that use what the run holds (registry, deployer, A/B engine) run here, whatever the executor.
          const result = usesServices(definition)
            ? await runStepTask(task, {
                storage,
                signal: controller.signal,
                onLog,
                step: node.step,
                ...(await services.for(definition)),
              })
            : await executor.execute(task, { signal: controller.signal, onLog, local: { step: node.step } });
          const outputs = await checkProduced(node, result.outputs);
          const finishedAt = now();
          const durationMs = performance.now() - stepStarted;
          const artifacts: ArtifactRecord[] = [bundleRecord];
          for (const [output, ref] of Object.entries(result.outputs)) {
            artifacts.push({
              digest: ref.digest,
              type: ref.type,
              size: ref.size,
              createdAt: finishedAt,
              producer: { runId, step: node.name, output, executionId },
              ...(ref.metadata ? { metadata: ref.metadata } : {}),
            });
          }
          await metadata.recordExecution(
            {
              id: executionId,
              runId,
              step: node.name,
              status: 'succeeded',
              cacheKey: key,
              cacheable,
              inputs,
              outputs,
              configDigest,
              startedAt,
              finishedAt,
              durationMs,
              attempts: attempt,
            },
            artifacts,
          );
          for (const [output, ref] of Object.entries(outputs)) {
            emit({
              type: 'artifact.written',
              runId,
              at: finishedAt,
              step: node.name,
              output,
              digest: ref.digest,
              artifactType: ref.type,
              size: ref.size,
            });
          }
          counts.executed++;
          emit({
            type: 'step.succeeded',
            runId,
            at: finishedAt,
            step: node.name,
            durationMs,
            attempts: attempt,
            outputs,
          });
          return { status: 'succeeded', reason, executionId, durationMs, attempts: attempt, outputs };
        } catch (error) {
          lastError = errorSummary(error);
          const cancelled = controller.signal.aborted;
          if (cancelled || attempt >= maxAttempts || !retryable(error)) break;
          const delayMs = backoffMs * 2 ** (attempt - 1);
          emit({
            type: 'step.retrying',
            runId,
            at: now(),
            step: node.name,
            attempt: attempt + 1,
            delayMs,
            error: lastError,
          });
          await sleep(delayMs, controller.signal);
        }
      }
      const cancelled = controller.signal.aborted;
      const durationMs = performance.now() - stepStarted;
      const error = lastError ?? { message: 'unknown error' };
      await metadata.recordExecution(
        {
          id: executionId,
          runId,
          step: node.name,
          status: cancelled ? 'cancelled' : 'failed',
          cacheKey: key,
          cacheable,
          inputs,
          outputs: {},
          configDigest,
          startedAt,
          finishedAt: now(),
          durationMs,
          attempts: attempt,
          error,
        },
        [bundleRecord],
      );
      if (!cancelled) {
        counts.failed++;
        firstError ??= { step: node.name, ...error };
      }
      emit({ type: 'step.failed', runId, at: now(), step: node.name, durationMs, attempts: attempt, error });
      return {
        status: cancelled ? 'cancelled' : 'failed',
        reason,
        executionId,
        durationMs,
        attempts: attempt,
        outputs: {},
        error,
      };
    }

    async function checkProduced(
      node: PipelineNode,
      produced: Record<string, ArtifactRef & { metadata?: unknown }>,
    ) {
      const outputs: Record<string, ArtifactRef> = {};
      const problems: string[] = [];
      for (const [name, type] of Object.entries(node.step.definition.outputs)) {
        const ref = produced[name];
        const expected = (type as { name: string }).name;
        if (!ref) problems.push(`missing output "${name}"`);
        else if (ref.type !== expected)
          problems.push(`output "${name}" is ${ref.type}, declared ${expected}`);
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
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await executor.close().catch(() => {});
    await services.close();
  }

  const cancelled = controller.signal.aborted;
  const status = cancelled ? 'cancelled' : counts.failed > 0 ? 'failed' : 'succeeded';
  const finishedAt = now();
  const errorLine = firstError
    ? `${firstError.step}: ${firstError.message.split('\n')[0]}`
    : cancelled
      ? 'cancelled'
      : undefined;
  await metadata.updateRun(runId, { status, finishedAt, counts, ...(errorLine ? { error: errorLine } : {}) });
  const durationMs = performance.now() - started;
  emit({
    type: 'run.finished',
    runId,
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
    runId,
    pipeline: pipeline.name,
    env: prepared.env,
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

/**
 * Drive the DAG: start every node whose producers all succeeded, at most
 * `limit` at once, in topological order. A node whose producer failed (or a
 * run that was cancelled) is skipped with its descendants. O(nodes + edges).
 */
async function schedule(
  pipeline: Pipeline,
  limit: number,
  signal: AbortSignal,
  runNode: (node: PipelineNode) => Promise<boolean>,
  skipNode: (node: PipelineNode, reason: string) => Promise<void>,
): Promise<void> {
  const waiting = new Map<string, number>();
  const consumers = new Map<string, PipelineNode[]>();
  for (const node of pipeline.nodes) {
    const producers = new Set(Object.values(node.inputs).map((wire) => wire.node));
    waiting.set(node.name, producers.size);
    for (const producer of producers) {
      const list = consumers.get(producer) ?? [];
      list.push(node);
      consumers.set(producer, list);
    }
  }
  const ready: PipelineNode[] = pipeline.nodes.filter((node) => waiting.get(node.name) === 0);
  const done = new Set<string>();
  let running = 0;
  let readyIndex = 0;

  const skipTree = async (from: PipelineNode, reason: string) => {
    const stack = [...(consumers.get(from.name) ?? [])];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (done.has(node.name)) continue;
      done.add(node.name);
      await skipNode(node, reason);
      stack.push(...(consumers.get(node.name) ?? []));
    }
  };

  await new Promise<void>((resolveAll, rejectAll) => {
    let failure: unknown;
    const pump = () => {
      if (failure !== undefined) return;
      while (running < limit && readyIndex < ready.length && !signal.aborted) {
        const node = ready[readyIndex++]!;
        running++;
        runNode(node)
          .then(async (ok) => {
            done.add(node.name);
            if (ok) {
              for (const consumer of consumers.get(node.name) ?? []) {
                const left = waiting.get(consumer.name)! - 1;
                waiting.set(consumer.name, left);
                if (left === 0 && !done.has(consumer.name)) ready.push(consumer);
              }
            } else {
              await skipTree(node, signal.aborted ? 'cancelled' : node.name);
            }
          })
          .catch((error) => {
            failure = error;
          })
          .finally(() => {
            running--;
            if (failure !== undefined) {
              if (running === 0) rejectAll(failure);
              return;
            }
            pump();
          });
      }
      if (running === 0) {
        if (signal.aborted) {
          void (async () => {
            for (const node of pipeline.nodes) {
              if (!done.has(node.name)) {
                done.add(node.name);
                await skipNode(node, 'cancelled');
              }
            }
          })().then(resolveAll, rejectAll);
        } else resolveAll();
      }
    };
    pump();
  });
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

async function gitState(projectDir: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  try {
    const [head, status] = await Promise.all([
      execFileAsync('git', ['rev-parse', 'HEAD'], { cwd: projectDir }),
      execFileAsync('git', ['status', '--porcelain', '--untracked-files=normal'], { cwd: projectDir }),
    ]);
    return { commit: head.stdout.trim(), dirty: status.stdout.trim().length > 0 };
  } catch {
    return undefined;
  }
}

/** Node and Cairn package versions, read from the project's installed @cairn packages. */
async function packageVersions(projectDir: string): Promise<Record<string, string>> {
  const versions: Record<string, string> = { node: process.versions.node, '@cairn/runtime': RUNTIME_VERSION };
  try {
    const manifest = JSON.parse(await readFile(join(projectDir, 'package.json'), 'utf8'));
    const names = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      (name) => name.startsWith('@cairn/') && name !== '@cairn/core',
    );
    await Promise.all(
      names.map(async (name) => {
        try {
          const installed = JSON.parse(
            await readFile(join(projectDir, 'node_modules', name, 'package.json'), 'utf8'),
          );
          versions[name] = installed.version;
        } catch {}
      }),
    );
  } catch {}
  return versions;
}

/** Runs left `running` by a process on this host that no longer exists are marked failed. */
async function markAbandonedRuns(options: RunOptions): Promise<void> {
  const here = hostname();
  const runs = await options.metadata.listRuns({ status: 'running', limit: 20 });
  for (const run of runs) {
    if (!run.host || run.host.hostname !== here || run.host.pid === process.pid) continue;
    if (isAlive(run.host.pid)) continue;
    await options.metadata.updateRun(run.id, {
      status: 'failed',
      finishedAt: new Date().toISOString(),
      error: `abandoned: process ${run.host.pid} ended without finishing the run`,
    });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type { CairnEvent, ExecutionRecord };
