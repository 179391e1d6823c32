/**
 * A run driven from outside, one step per process: the way a cluster engine
 * (Argo Workflows, GitHub Actions) runs a pipeline that `cairn export`
 * compiled. `createRun` records the run — configs resolved and validated,
 * the config bundle stored — and executes nothing; `execRunStep` then runs
 * one node of it, in whatever process the engine starts, against the same
 * stack: its inputs are the outputs its upstream nodes recorded in this run,
 * its config is the one the run recorded, and it is cached, executed,
 * checked and recorded with its lineage exactly as `runPipeline` does it.
 * Running a node that already finished in the run is a no-op, so an engine
 * may retry freely.
 */
import { join, resolve } from 'node:path';
import {
  type ArtifactRef,
  CairnError,
  type CairnEvent,
  canonicalJson,
  ErrorCodes,
  type ExecutionRecord,
  type Pipeline,
  type RunRecord,
  sha256,
} from '@cairn/core';
import { envRefNames, resolveStepConfigs } from '../config/index';
import { inProcess } from '../executors/in-process';
import { stateDirOf } from '../state-dir';
import { PreviousExecutions } from './cache';
import type { StepExecution } from './execute';
import { newId } from './ids';
import { type PreparedRun, prepareRun } from './prepare';
import { runProvenance } from './provenance';
import { now, RecordQueue, type RecordTicket, type RunRecorder, storeConfigBundle } from './records';
import { processNode } from './run';
import { secretScrubber } from './secrets';
import { runServices } from './services';
import { STEP_LOG_LIMIT_BYTES } from './step-log';
import type { RunOptions, StepOutcome } from './types';

const finished = (execution: ExecutionRecord) =>
  execution.status === 'succeeded' || execution.status === 'cached';

/**
 * Record a run of `pipeline` without executing any step: every config is
 * resolved and validated (a bad one throws and nothing is recorded), the
 * config bundle is stored, and the run is left `running` for its steps to
 * be executed one by one with {@link execRunStep}. The record names no host
 * process: its steps run on many machines, so no later run on this one
 * takes it for abandoned.
 * @returns the run id and its step names in a DAG order
 */
export async function createRun(
  pipeline: Pipeline,
  options: Omit<RunOptions, 'onEvent' | 'executor' | 'concurrency' | 'signal'>,
): Promise<{ runId: string; steps: string[] }> {
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const [prepared, provenance] = await Promise.all([
    prepareRun(pipeline, options),
    runProvenance(projectDir, stateDirOf(projectDir, options.stateDir)),
  ]);
  await options.metadata.init?.();
  const { bundle, configDigests } = await storeConfigBundle(pipeline, prepared, options.storage);
  const record: RunRecord = {
    id: newId('r'),
    pipeline: pipeline.name,
    env: prepared.env,
    status: 'running',
    startedAt: now(),
    versions: provenance.versions,
    configs: configDigests,
    configBundle: bundle.digest,
    ...(provenance.git ? { git: provenance.git } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
  };
  await options.metadata.createRun(record);
  return { runId: record.id, steps: pipeline.nodes.map((node) => node.name) };
}

/** {@link execRunStep}'s options: the stack and project as for `runPipeline`, and how many attempts. */
export interface RunStepOptions extends RunOptions {
  /**
   * Make exactly one attempt, ignoring the step's `retries`: the engine that
   * started this process retries it (an exported workflow carries the policy),
   * and retrying here too would multiply the attempts.
   * @default false
   */
  singleAttempt?: boolean;
}

/** What {@link execRunStep} did. */
export interface RunStepResult {
  runId: string;
  step: string;
  /** `done`: the step had already finished in this run, nothing ran (a retry). */
  outcome: StepOutcome | { status: 'done'; executionId: string; outputs: Record<string, ArtifactRef> };
  /** The run's status after this step. */
  runStatus: RunRecord['status'];
  /**
   * Set when conf/ here no longer gives the step's recorded config (edited since the run was
   * recorded, a `--set` given at creation, or another image's conf/): the step ran with the
   * recorded one all the same, and this says why the two differ.
   */
  configDrift?: string;
}

/**
 * Execute one node of a run recorded by {@link createRun} (or by an earlier
 * `runPipeline`), in this process, against the stack in `options`. The
 * node's config is the run's recorded one (its `${env:…}` references
 * resolved from this process's environment); its inputs are the outputs its
 * upstream nodes recorded in this run. A node that already finished in the
 * run is not run again. When every node has finished, the run is closed
 * `succeeded`; a failed node closes it `failed` (a later successful retry
 * reopens and closes it `succeeded`, its error cleared).
 *
 * The recorded config is the truth: conf/ where this process runs may not be
 * the conf/ of the machine that recorded the run. When conf/ here gives the
 * step another config, the step still runs with the recorded one and the
 * result's `configDrift` says so.
 * @throws CAIRN_METADATA_NOT_FOUND when the run does not exist, or an upstream node has not finished in it
 * @throws CAIRN_USAGE when the run is of another pipeline or environment, or the step is not in the pipeline
 */
export async function execRunStep(
  pipeline: Pipeline,
  runId: string,
  stepName: string,
  options: RunStepOptions,
): Promise<RunStepResult> {
  const { singleAttempt, ...runOptions } = options;
  const { record, node, prepared } = await loadRecordedRun(pipeline, runId, stepName, runOptions);
  const executions = await options.metadata.listExecutions(runId);
  const done = executions.filter((e) => e.step === node.name && finished(e)).at(-1);
  if (done) {
    return {
      runId,
      step: node.name,
      outcome: { status: 'done', executionId: done.id, outputs: done.outputs },
      runStatus: record.status,
    };
  }
  const outcomes = upstreamOutcomes(node, executions, runId);
  const drift = await configDrift(node, record, prepared, runOptions);
  const executed = singleAttempt ? withoutRetries(node) : node;
  const outcome = await runRecordedNode(pipeline, record, executed, prepared, outcomes, runOptions);
  return {
    runId,
    step: node.name,
    outcome,
    runStatus: await closeIfFinished(pipeline, record, outcome, runOptions),
    ...(drift ? { configDrift: drift } : {}),
  };
}

type PipelineNode = NonNullable<ReturnType<Pipeline['node']>>;

/**
 * The node with its step's `retries` off, everything else its own. A step's
 * properties are read-only, so the copy is a new object over the step.
 */
function withoutRetries(node: PipelineNode): PipelineNode {
  const definition = { ...node.step.definition, retries: 0 };
  const step = Object.create(node.step, { definition: { value: definition, enumerable: true } });
  return { ...node, step };
}

/**
 * Why conf/ here does not give `node`'s recorded config, or undefined when it does. Its
 * `${env:…}` references are compared as written, but resolved for its schema: a `z.string().url()`
 * is not judged by the text `${env:URL}`. Only this step's config is read, so only its variables.
 */
async function configDrift(
  node: PipelineNode,
  record: RunRecord,
  prepared: PreparedRun,
  options: RunOptions,
): Promise<string | undefined> {
  let digest: string;
  try {
    const resolved = await resolveStepConfigs({
      confDir: resolve(prepared.projectDir, options.confDir ?? 'conf'),
      projectDir: prepared.projectDir,
      env: prepared.env,
      environment: options.environment ?? process.env,
      steps: [
        {
          name: node.name,
          ...(node.step.definition.config ? { schema: node.step.definition.config } : {}),
        },
      ],
    });
    digest = sha256(new TextEncoder().encode(canonicalJson(resolved[node.name]?.stored ?? {})));
  } catch (error) {
    return `conf/ here no longer gives a valid config for "${node.name}" (${(error as Error).message.split('\n')[0]}); ran with the config run ${record.id} recorded`;
  }
  if (digest === record.configs[node.name]) return undefined;
  return `conf/ here gives "${node.name}" another config than run ${record.id} recorded (conf/ changed since, or a --set given when it was recorded); ran with the recorded one`;
}

/**
 * The run, the node to execute and the run's recorded configs prepared for this process, after
 * checking that the run is of this pipeline and environment and that its config bundle is the
 * one it recorded.
 */
async function loadRecordedRun(
  pipeline: Pipeline,
  runId: string,
  stepName: string,
  options: RunOptions,
): Promise<{ record: RunRecord; node: PipelineNode; prepared: PreparedRun }> {
  const { metadata, storage } = options;
  await metadata.init?.();
  const record = await metadata.getRun(runId);
  if (!record) {
    throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No run ${runId} in the metadata store`, {
      hint: 'Record one with `cairn run <pipeline> --create` (it prints the run id).',
    });
  }
  if (record.pipeline !== pipeline.name) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `Run ${runId} is a run of pipeline "${record.pipeline}", not "${pipeline.name}"`,
    );
  }
  const env = options.env ?? 'local';
  if (record.env !== env) {
    throw new CairnError(ErrorCodes.USAGE, `Run ${runId} was recorded in env "${record.env}", not "${env}"`, {
      hint: `Pass --env ${record.env}.`,
    });
  }
  const node = pipeline.node(stepName);
  if (!node) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `"${stepName}" is not a step of pipeline "${pipeline.name}" (steps: ${pipeline.nodes.map((n) => n.name).join(', ')})`,
    );
  }
  if (!record.configBundle) {
    throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `Run ${runId} has no recorded config bundle`, {
      hint: 'Record a new run with `cairn run --create`.',
    });
  }
  // The run's recorded configs, not whatever conf/ says now: every step of one run sees the same ones.
  const recorded = JSON.parse(await readText(storage, record.configBundle)) as Record<string, unknown>;
  const { overrides: _overrides, ...rest } = options;
  // Only this step's `${env:…}` references are read here: a pod gets the stack's variables and its
  // own step's, never another step's secrets. The other steps' configs count only by their digests.
  const own = new Set(envRefNames(recorded[node.name]).names);
  const environment = options.environment ?? process.env;
  const ownOnly = new Proxy({} as NodeJS.ProcessEnv, {
    get: (_target, name) =>
      typeof name !== 'string' ? undefined : own.has(name) ? environment[name] : `\${env:${name}}`,
  });
  const prepared = await prepareRun(
    pipeline,
    { ...rest, env, configs: recorded, environment: ownOnly },
    node.name,
  );
  // The bundle is content-addressed, so this only fails for a record whose digests do not match its bundle.
  const changed = pipeline.nodes
    .map((n) => n.name)
    .filter((name) => prepared.configs.get(name)?.digest !== record.configs[name]);
  if (changed.length > 0) {
    throw new CairnError(
      ErrorCodes.CONFIG_INVALID,
      `Run ${runId}'s config bundle does not give its recorded configs (steps: ${changed.join(', ')})`,
      { hint: 'Record a new run (`cairn run --create`).' },
    );
  }
  return { record, node, prepared };
}

/** The outcomes of the nodes `node` reads from, as recorded in this run; each must have finished. */
function upstreamOutcomes(
  node: PipelineNode,
  executions: ExecutionRecord[],
  runId: string,
): Map<string, StepOutcome> {
  const outcomes = new Map<string, StepOutcome>();
  for (const wire of Object.values(node.inputs)) {
    if (outcomes.has(wire.node)) continue;
    const upstream = executions.filter((e) => e.step === wire.node && finished(e)).at(-1);
    if (!upstream) {
      // Said as it is: a step that ran and failed is not one that has not run yet.
      const failed = executions.filter((e) => e.step === wire.node && e.status === 'failed').at(-1);
      throw new CairnError(
        ErrorCodes.METADATA_NOT_FOUND,
        failed
          ? `Step "${node.name}" needs "${wire.node}", which failed in run ${runId}${failed.error?.message ? `: ${failed.error.message.split('\n')[0]}` : ''}`
          : `Step "${node.name}" needs "${wire.node}", which has not finished in run ${runId}`,
        {
          hint: failed
            ? `Fix what made it fail, then \`cairn step exec --run ${runId} --step ${wire.node}\` again.`
            : `Run \`cairn step exec --run ${runId} --step ${wire.node}\` first: steps run in DAG order.`,
        },
      );
    }
    outcomes.set(wire.node, {
      status: upstream.status,
      reason: 'cached',
      executionId: upstream.id,
      outputs: upstream.outputs,
    });
  }
  return outcomes;
}

/** Cache-check, execute and record one node of the run, as `runPipeline` does each of its nodes. */
async function runRecordedNode(
  pipeline: Pipeline,
  record: RunRecord,
  node: PipelineNode,
  prepared: PreparedRun,
  outcomes: Map<string, StepOutcome>,
  options: RunOptions,
): Promise<StepOutcome> {
  const { metadata, storage } = options;
  const bundleDigest = record.configBundle!;
  const scrub = secretScrubber(prepared);
  const records = new RecordQueue(metadata, options.onEvent ?? (() => {}));
  const run: RunRecorder = {
    runId: record.id,
    metadata,
    emit: (event: CairnEvent, after?: RecordTicket) => records.emit(scrub.deep(event), after),
    records,
    bundle: {
      digest: bundleDigest,
      size: (await storage.stat(bundleDigest))?.size ?? 0,
      type: 'json',
      createdAt: record.startedAt,
      metadata: { role: 'config-bundle', steps: pipeline.nodes.length },
    },
    configDigests: record.configs,
    counts: { executed: 0, cached: 0, failed: 0, skipped: 0 },
    scrub,
  };
  const tmpDir = resolve(options.tmpDir ?? join(prepared.stateDir, 'tmp'));
  const executor = await (options.executor ?? inProcess()).create({ storage });
  const services = runServices(options, prepared.projectDir);
  let outcome: StepOutcome;
  try {
    const context: StepExecution = {
      run,
      prepared,
      storage,
      executor,
      services,
      signal: options.signal ?? new AbortController().signal,
      pipeline: { module: pipeline.module ?? '', name: pipeline.name },
      tmpDir,
      logs: {
        stateDir: prepared.stateDir,
        limitBytes: options.stepLogBytes ?? STEP_LOG_LIMIT_BYTES,
      },
    };
    const previous = new PreviousExecutions(metadata, pipeline.name, pipeline.nodes.length);
    outcome = await processNode(context, node, outcomes, previous, options.noCache === true);
  } finally {
    await executor.close().catch(() => {});
    await services.close();
    // The step's execution record reaches the store before this process reports or exits.
    await records.settle().catch(() => {});
  }
  await records.settle();
  return outcome;
}

/** Close the run when this step failed, or when every node has now finished. */
async function closeIfFinished(
  pipeline: Pipeline,
  record: RunRecord,
  outcome: StepOutcome,
  options: RunOptions,
): Promise<RunRecord['status']> {
  const { metadata } = options;
  if (outcome.status === 'failed' || outcome.status === 'cancelled') {
    const status = outcome.status === 'failed' ? 'failed' : 'cancelled';
    await metadata.updateRun(record.id, {
      status,
      finishedAt: now(),
      error: `${outcome.error?.message.split('\n')[0] ?? status}`,
    });
    return status;
  }
  const executions = await metadata.listExecutions(record.id);
  const latest = new Map<string, ExecutionRecord>();
  for (const execution of executions) latest.set(execution.step, execution);
  if (!pipeline.nodes.every((n) => latest.has(n.name) && finished(latest.get(n.name)!))) return 'running';
  const counts = { executed: 0, cached: 0, failed: 0, skipped: 0 };
  for (const execution of latest.values()) {
    if (execution.status === 'succeeded') counts.executed++;
    else counts.cached++;
  }
  // A step that failed earlier and succeeded on a retry left its error on the run: cleared
  // (updateRun keeps a field given as undefined; '' clears it, and the run reads back without one).
  const { error } = (await metadata.getRun(record.id)) ?? {};
  await metadata.updateRun(record.id, {
    status: 'succeeded',
    finishedAt: now(),
    counts,
    ...(error ? { error: '' } : {}),
  });
  return 'succeeded';
}

async function readText(storage: RunOptions['storage'], digest: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await storage.get(digest)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
