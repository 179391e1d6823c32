import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AbTestEngine,
  type AnyStep,
  type AnyStepDefinition,
  type ArtifactMap,
  type ArtifactType,
  CairnError,
  type CommandStepDefinition,
  type Deployer,
  ErrorCodes,
  isCommandStep,
  isPipeline,
  type ModelRegistry,
  type Pipeline,
  type StepContext,
  type StepLogger,
  type StepLogLine,
  type StepTask,
  type StepTaskResult,
  type StorageDriver,
} from '@cairn/core';
import { materializeArtifact, readSmallBlob, storeArtifact } from './artifacts/io';
import { configFromStored } from './config/stored';
import { importModule } from './load';
import { PROCESS_GROUP_FILE, scratchPrefix, uniqueSuffix } from './scratch';
import { stateDirOf } from './state-dir';

export interface RunStepTaskOptions {
  storage: StorageDriver;
  signal: AbortSignal;
  onLog?(line: StepLogLine): void;
  /** The live step, when the caller has it; otherwise it is loaded from `task.pipeline.module`. */
  step?: AnyStep;
  /** Given to steps that use `registry`. */
  registry?: ModelRegistry;
  /** Given to steps that use `deployer`. */
  deployer?: Deployer;
  /** Given to steps that use `abtest`. */
  abtest?: AbTestEngine;
  /**
   * `task.config` is the step's stored config (`${env:…}` kept, as a queue job carries it): it is
   * resolved from this process's environment and parsed by the step's schema before the step sees it.
   */
  configIsStored?: boolean;
}

/**
 * Run one step attempt wherever it is called (this process, a worker thread,
 * a remote worker): materialize the inputs from storage, run the step (a
 * function or a command) under its timeout and abort signal, check the
 * outputs against the declaration, and store them.
 */
export async function runStepTask(task: StepTask, options: RunStepTaskOptions): Promise<StepTaskResult> {
  const step = options.step ?? (await loadStep(task));
  const definition = step.definition as AnyStepDefinition;
  const outputTypes = definition.outputs as ArtifactMap;

  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal.reason);
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (task.timeoutMs) {
    timer = setTimeout(
      () =>
        controller.abort(
          new CairnError(ErrorCodes.STEP_TIMEOUT, `Step "${task.step}" timed out after ${task.timeoutMs} ms`),
        ),
      task.timeoutMs,
    );
  }

  // The attempt's scratch folder is only named here: whatever writes into it
  // makes it (recursive mkdir), so a step that reads small inputs and returns
  // JSON costs no folder at all.
  // Named after this process: a run that finds it after this process died reclaims it (config.json may hold secrets).
  const workdir = join(task.tmpDir, `${scratchPrefix()}${task.step}-${task.attempt}-${uniqueSuffix()}`);
  try {
    throwIfAborted(controller.signal, task.step);
    const config = options.configIsStored
      ? await configFromStored(task.step, task.config, definition.config)
      : task.config;
    const { inputPaths, inputValues } = await readInputs(
      task,
      definition,
      options.storage,
      workdir,
      controller.signal,
    );

    const log = makeLogger(options.onLog);
    let produced: Record<string, unknown>;
    if (isCommandStep(definition)) {
      produced = await runCommand(
        definition,
        { ...task, config },
        workdir,
        inputPaths,
        outputTypes,
        controller.signal,
        log,
      );
    } else {
      const scratch = join(workdir, 'work');
      let scratchMade = false;
      const context: StepContext<unknown, Record<string, unknown>> = {
        config,
        inputs: inputValues,
        log,
        signal: controller.signal,
        // Made on first use: most steps never touch it, and each folder costs a mkdir and an rmdir.
        get workdir() {
          if (!scratchMade) {
            mkdirSync(scratch, { recursive: true });
            scratchMade = true;
          }
          return scratch;
        },
        step: task.step,
        runId: task.runId,
        attempt: task.attempt,
        artifacts: task.inputs,
        pipeline: task.pipeline.name,
        projectDir: task.projectDir,
        stateDir: task.stateDir ?? stateDirOf(task.projectDir),
        ...(options.registry ? { registry: options.registry } : {}),
        ...(options.deployer ? { deployer: options.deployer } : {}),
        ...(options.abtest ? { abtest: options.abtest } : {}),
      };
      produced = await raceAbort(
        Promise.resolve().then(() => definition.run(context as never)),
        controller.signal,
        task.step,
      );
    }
    throwIfAborted(controller.signal, task.step);
    checkOutputs(task.step, outputTypes, produced);

    const outputs: StepTaskResult['outputs'] = {};
    for (const [name, type] of Object.entries(outputTypes)) {
      const value = produced[name];
      const serialized = await type.serialize(value as never, { workdir: join(workdir, 'out', name), name });
      const stored = await storeArtifact(options.storage, serialized, { signal: controller.signal });
      const metadata = safeDescribe(type, value);
      outputs[name] = {
        digest: stored.digest,
        size: stored.size,
        type: type.name,
        ...(metadata ? { metadata } : {}),
      };
    }
    return { outputs };
  } catch (error) {
    throw asStepError(task.step, error, controller.signal);
  } finally {
    if (timer) clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
    if (existsSync(workdir)) await rm(workdir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * A task's inputs, checked against the step's declared types: each one's file (a small blob is
 * read into memory and its stored file used; anything else is materialized into `workdir`), and,
 * for a function step, its deserialized value.
 */
async function readInputs(
  task: StepTask,
  definition: AnyStepDefinition,
  storage: StorageDriver,
  workdir: string,
  signal: AbortSignal,
): Promise<{ inputPaths: Record<string, string>; inputValues: Record<string, unknown> }> {
  const inputTypes = (definition.inputs ?? {}) as ArtifactMap;
  const inputPaths: Record<string, string> = {};
  const inputValues: Record<string, unknown> = {};
  for (const [name, ref] of Object.entries(task.inputs)) {
    const type = inputTypes[name];
    if (!type) continue;
    if (ref.type !== type.name) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `Step "${task.step}" input "${name}" expects ${type.name}, got ${ref.type} (${ref.digest.slice(0, 12)})`,
      );
    }
    const small = type.form === 'blob' ? await readSmallBlob(storage, ref) : undefined;
    const path =
      small?.path ??
      (await materializeArtifact(storage, ref, type.form, join(workdir, 'inputs', name), { signal }));
    inputPaths[name] = path;
    if (!isCommandStep(definition)) {
      inputValues[name] = await type.deserialize(
        { path, digest: ref.digest, size: ref.size, ...(small ? { bytes: small.bytes } : {}) },
        { workdir, name },
      );
    }
  }
  return { inputPaths, inputValues };
}

const pipelineCache = new Map<string, Promise<Record<string, unknown>>>();

/** Find a task's step by loading its pipeline module (once per module per thread). */
export async function loadStep(task: Pick<StepTask, 'pipeline' | 'step'>): Promise<AnyStep> {
  const { module, name } = task.pipeline;
  let loading = pipelineCache.get(module);
  if (!loading) {
    loading = importModule(module);
    pipelineCache.set(module, loading);
    loading.catch(() => pipelineCache.delete(module));
  }
  const exports = await loading;
  // Top-level exports first, then one level into namespace-like objects (`export * as fixtures`).
  const candidates = Object.values(exports).flatMap((value) =>
    value && typeof value === 'object' && !isPipeline(value) ? [value, ...Object.values(value)] : [value],
  );
  const found = candidates.find((value): value is Pipeline => isPipeline(value) && value.name === name);
  if (!found) {
    throw new CairnError(
      ErrorCodes.PIPELINE_NOT_FOUND,
      `Module ${module} exports no pipeline named "${name}"`,
    );
  }
  const node = found.node(task.step);
  if (!node) {
    throw new CairnError(ErrorCodes.PIPELINE_NOT_FOUND, `Pipeline "${name}" has no step "${task.step}"`);
  }
  return node.step;
}

function checkOutputs(
  step: string,
  declared: ArtifactMap,
  produced: unknown,
): asserts produced is Record<string, unknown> {
  if (produced === null || typeof produced !== 'object' || Array.isArray(produced)) {
    throw new CairnError(
      ErrorCodes.STEP_OUTPUT_INVALID,
      `Step "${step}" must return an object with its outputs (${Object.keys(declared).join(', ') || 'none'}), got ${describeValue(produced)}`,
    );
  }
  const problems: string[] = [];
  for (const [name, type] of Object.entries(declared)) {
    if (!(name in produced) || (produced as Record<string, unknown>)[name] === undefined) {
      problems.push(`missing output "${name}" (${type.name})`);
      continue;
    }
    const message = type.check?.((produced as Record<string, unknown>)[name]);
    if (message) problems.push(`output "${name}" is not a valid ${type.name}: ${message}`);
  }
  for (const name of Object.keys(produced)) {
    if (!(name in declared)) problems.push(`undeclared output "${name}" (declare it in outputs or drop it)`);
  }
  if (problems.length > 0) {
    throw new CairnError(
      ErrorCodes.STEP_OUTPUT_INVALID,
      `Step "${step}" returned invalid outputs:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { issues: problems.map((message) => ({ source: step, message })) },
    );
  }
}

function safeDescribe(type: ArtifactType, value: unknown): Record<string, unknown> | undefined {
  try {
    return type.describe?.(value as never);
  } catch {
    return undefined;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function makeLogger(onLog: RunStepTaskOptions['onLog']): StepLogger {
  const emit = (level: StepLogLine['level']) => (message: string, fields?: Record<string, unknown>) =>
    onLog?.({ level, message: String(message), ...(fields ? { fields } : {}) });
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

function abortError(signal: AbortSignal, step: string): CairnError {
  const reason = signal.reason;
  if (CairnError.is(reason)) return reason;
  return new CairnError(ErrorCodes.RUN_CANCELLED, `Step "${step}" was cancelled`);
}

function throwIfAborted(signal: AbortSignal, step: string): void {
  if (signal.aborted) throw abortError(signal, step);
}

/**
 * How long a cancelled or timed-out step is given to settle before the run
 * goes on without it, in ms: a step that honours its signal gets to run its
 * cleanup (a `finally` that removes what it made: a staging endpoint, a
 * temporary table) before `cairn run` records the run and exits.
 */
export const STEP_CLEANUP_MS = 5_000;

/**
 * The step's own result, or its signal's error once the signal fires and the
 * step has settled (its cleanup done), or {@link STEP_CLEANUP_MS} after the
 * signal for a step that ignores it: that one is no longer waited for.
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, step: string): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal, step));
  return new Promise<T>((resolve, reject) => {
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      grace = setTimeout(() => reject(abortError(signal, step)), STEP_CLEANUP_MS);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      signal.removeEventListener('abort', onAbort);
      if (grace) clearTimeout(grace);
    };
    // Settled after the signal fired: the caller turns it into the signal's error (asStepError).
    work.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error) => {
        settle();
        reject(error);
      },
    );
  });
}

function asStepError(step: string, error: unknown, signal: AbortSignal): CairnError {
  if (signal.aborted) return abortError(signal, step);
  if (CairnError.is(error)) {
    error.context = { step, ...error.context };
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CairnError(ErrorCodes.STEP_FAILED, `Step "${step}" failed: ${message}`, {
    cause: error,
    context: { step },
  });
}

const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** The folders and files a command step's placeholders and `$CAIRN_*` variables name. */
interface CommandFolders {
  configPath: string;
  inputsDir: string;
  outputsDir: string;
  scratch: string;
}

async function runCommand(
  definition: CommandStepDefinition<unknown, ArtifactMap, ArtifactMap>,
  task: StepTask,
  workdir: string,
  inputPaths: Record<string, string>,
  outputTypes: ArtifactMap,
  signal: AbortSignal,
  log: StepLogger,
): Promise<Record<string, unknown>> {
  const folders = await prepareCommandFolders(task, workdir, inputPaths);
  const command = expandPlaceholders(definition.command, task.step, folders, inputPaths, outputTypes);
  const { exitCode, stderrTail } = await spawnCommand(
    command,
    definition,
    task,
    workdir,
    folders,
    signal,
    log,
  );
  throwIfAborted(signal, task.step);
  if (exitCode !== 0) {
    const tail = stderrTail.length > 0 ? `\n${stderrTail.map((l) => `    ${l}`).join('\n')}` : '';
    throw new CairnError(
      ErrorCodes.STEP_FAILED,
      `Step "${task.step}": command exited with code ${exitCode}${tail}`,
    );
  }
  return readCommandOutputs(task.step, folders, outputTypes);
}

async function prepareCommandFolders(
  task: StepTask,
  workdir: string,
  inputPaths: Record<string, string>,
): Promise<CommandFolders> {
  const folders: CommandFolders = {
    configPath: join(workdir, 'config.json'),
    inputsDir: join(workdir, 'inputs'),
    outputsDir: join(workdir, 'outputs'),
    scratch: join(workdir, 'work'),
  };
  await Promise.all([
    mkdir(folders.inputsDir, { recursive: true }),
    mkdir(folders.outputsDir, { recursive: true }),
    mkdir(folders.scratch, { recursive: true }),
  ]);
  // Blob inputs may be read straight from the store (localPath); link them so that
  // `$CAIRN_INPUTS/<name>` holds every input, as the placeholders promise.
  for (const [name, path] of Object.entries(inputPaths)) {
    const expected = join(folders.inputsDir, name);
    if (path !== expected) await symlink(path, expected);
  }
  // Written with mode 0600: the resolved config may hold secrets, and it is removed with the workdir.
  await writeFile(folders.configPath, JSON.stringify(task.config ?? {}, null, 2), { mode: 0o600 });
  return folders;
}

/** The command with each `{placeholder}` replaced by its shell-quoted path; an unknown one is refused. */
function expandPlaceholders(
  template: string,
  step: string,
  folders: CommandFolders,
  inputPaths: Record<string, string>,
  outputTypes: ArtifactMap,
): string {
  const placeholders: Record<string, string> = {
    config: folders.configPath,
    inputs: folders.inputsDir,
    outputs: folders.outputsDir,
    workdir: folders.scratch,
  };
  for (const [name, path] of Object.entries(inputPaths)) placeholders[`inputs.${name}`] = path;
  for (const name of Object.keys(outputTypes))
    placeholders[`outputs.${name}`] = join(folders.outputsDir, name);
  return template.replace(/\{([a-zA-Z0-9_.-]+)\}/g, (whole, key: string) => {
    const value = placeholders[key];
    if (value === undefined) {
      throw new CairnError(
        ErrorCodes.STEP_INVALID,
        `Step "${step}": unknown placeholder ${whole} in command (known: ${Object.keys(placeholders)
          .map((k) => `{${k}}`)
          .join(', ')})`,
      );
    }
    return shellQuote(value);
  });
}

/**
 * Run the command in its own process group, its output lines into the step's log, and
 * resolve with its exit code and the last 20 lines of its stderr. Aborting kills the group.
 */
async function spawnCommand(
  command: string,
  definition: CommandStepDefinition<unknown, ArtifactMap, ArtifactMap>,
  task: StepTask,
  workdir: string,
  folders: CommandFolders,
  signal: AbortSignal,
  log: StepLogger,
): Promise<{ exitCode: number | null; stderrTail: string[] }> {
  const stderrTail: string[] = [];
  // Loaded when a command step runs: most runs start no process, and child_process is a few ms of start.
  const { spawn } = await import('node:child_process');
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: task.projectDir,
      env: {
        ...process.env,
        ...definition.env,
        CAIRN_CONFIG: folders.configPath,
        CAIRN_INPUTS: folders.inputsDir,
        CAIRN_OUTPUTS: folders.outputsDir,
        CAIRN_WORKDIR: folders.scratch,
        CAIRN_STEP: task.step,
        CAIRN_RUN_ID: task.runId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group, so that aborting kills the shell and everything it started.
      detached: true,
    });
    const lines = (level: 'info' | 'warn', keep: boolean) => {
      let pending = '';
      return (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) {
          log[level](line);
          if (keep) {
            stderrTail.push(line);
            if (stderrTail.length > 20) stderrTail.shift();
          }
        }
      };
    };
    // Recorded beside the config: if this process dies without killing the group, the next run does (reclaimScratch).
    if (child.pid) writeFileSync(join(workdir, PROCESS_GROUP_FILE), String(child.pid));
    child.stdout.on('data', lines('info', false));
    child.stderr.on('data', lines('warn', true));
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 2000).unref();
    };
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', (error) => {
      signal.removeEventListener('abort', kill);
      reject(error);
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', kill);
      resolvePromise({ exitCode: code, stderrTail });
    });
  });
}

/**
 * Outputs go through their type (read back, checked, re-serialized) so a
 * command's json is stored canonically and a malformed file is refused.
 */
async function readCommandOutputs(
  step: string,
  folders: CommandFolders,
  outputTypes: ArtifactMap,
): Promise<Record<string, unknown>> {
  const produced: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const [name, type] of Object.entries(outputTypes)) {
    const path = join(folders.outputsDir, name);
    const info = await stat(path).catch(() => undefined);
    const expected = type.form === 'tree' ? 'folder' : 'file';
    if (!info || (type.form === 'tree' ? !info.isDirectory() : !info.isFile())) {
      missing.push(`{outputs.${name}} (${type.name}): expected a ${expected} at ${path}`);
      continue;
    }
    try {
      produced[name] = await type.deserialize(
        { path, digest: '', size: info.size },
        { workdir: folders.scratch, name },
      );
    } catch (error) {
      missing.push(`{outputs.${name}} is not a valid ${type.name}: ${(error as Error).message}`);
    }
  }
  if (missing.length > 0) {
    throw new CairnError(
      ErrorCodes.STEP_OUTPUT_INVALID,
      `Step "${step}": the command did not produce its declared outputs:\n${missing.map((m) => `  - ${m}`).join('\n')}`,
    );
  }
  return produced;
}
