/**
 * The executor contract: where a step's code runs.
 *
 * The orchestrator decides *what* runs (cache, order, retries); an executor
 * decides *where*: in this process, in a pool of local worker threads, or on
 * remote workers behind a queue. It receives a serializable {@link StepTask},
 * runs the step through the shared step runner (`runStepTask` in the core),
 * which materializes the inputs from storage, calls the step, and writes its
 * outputs back to storage; the executor returns the output references.
 *
 * Executors are two-phase (they hold threads, connections): the factory in
 * `cairn.config.ts` returns a serializable {@link ExecutorDescriptor}; the
 * orchestrator calls `create` once per run and `close` when the run ends.
 * `testExecutor` in `@cairn/testkit` checks every executor.
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * export default defineConfig({ stack: { executor: workerPool({ size: 4 }) } });
 * ```
 */
import type { ArtifactRecord, ArtifactRef } from './metadata';
import type { PluginRef, StorageDriver } from './storage';

/** A unit of work that can cross a thread, process or machine boundary: plain JSON. */
export interface StepTask {
  runId: string;
  executionId: string;
  /** Node name of the step in the pipeline. */
  step: string;
  /**
   * Where the step's definition lives: the pipeline module (absolute path or
   * file URL; TypeScript loads without a build) and its export.
   */
  pipeline: { module: string; export: string; name: string };
  /**
   * The resolved config, with `${env:…}` references replaced by their values.
   * It crosses to the worker but is never written to metadata or logs.
   */
  config: unknown;
  /**
   * The same config as stored: `${env:…}` references kept. An executor that
   * sends the task to another process sends this instead of `config` and
   * resolves it there (`resolveEnvRefs`), so no queue holds a secret.
   */
  storedConfig?: unknown;
  inputs: Record<string, ArtifactRef>;
  /** 1 for the first attempt. */
  attempt: number;
  /** A scratch folder root; the runner makes a fresh subfolder per attempt. */
  tmpDir: string;
  /** The project folder: command steps run here, relative `sources` resolve here. */
  projectDir: string;
  /** The run's state folder; `<projectDir>/.cairn` when absent. */
  stateDir?: string;
  timeoutMs?: number;
  /** How the worker re-creates storage; required by out-of-process executors. */
  storage?: PluginRef;
}

/** What a step attempt produced: one stored artifact per declared output. */
export interface StepTaskResult {
  outputs: Record<string, Omit<ArtifactRecord, 'createdAt' | 'producer'>>;
}

/** A log line from a running step. */
export interface StepLogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** Structured fields passed to `ctx.log.info(message, fields)`. */
  fields?: Record<string, unknown>;
}

/** Per-task callbacks and hints from the orchestrator. */
export interface ExecuteOptions {
  /** Aborting stops the step (its `ctx.signal` fires; commands are killed). */
  signal: AbortSignal;
  /** Receives the step's log lines as they happen. */
  onLog?(line: StepLogLine): void;
  /**
   * The live step object (an `AnyStep`), when the orchestrator has it.
   * In-process executors hand it to the step runner instead of loading the
   * pipeline module; others ignore it. Opaque here so that the contract does
   * not depend on the authoring API.
   */
  local?: { step: unknown };
}

/** What `create` receives. */
export interface ExecutorContext {
  storage: StorageDriver;
  /** Default parallelism requested by the user (`--concurrency`); executors may cap it. */
  concurrency?: number;
}

/** A live executor for one run. */
export interface Executor {
  /** How many tasks it runs at once; the orchestrator never hands it more. */
  readonly concurrency: number;
  /**
   * Run one step attempt. Resolves with the stored outputs; rejects with the
   * step's error (a `CairnError` with code `CAIRN_STEP_FAILED`,
   * `CAIRN_STEP_TIMEOUT`, `CAIRN_STEP_OUTPUT_INVALID`, `CAIRN_RUN_CANCELLED`
   * or `CAIRN_EXECUTOR_FAILED`).
   */
  execute(task: StepTask, options: ExecuteOptions): Promise<StepTaskResult>;
  /** Stop threads and connections. Tasks still running are aborted. */
  close(): Promise<void>;
}

/** The serializable thing a factory returns: name, options, and how to start it. */
export interface ExecutorDescriptor<Options = unknown> {
  readonly kind: 'executor';
  /** `'in-process'`, `'worker-pool'`, `'bullmq'`… */
  readonly name: string;
  readonly options: Options;
  create(context: ExecutorContext): Executor | Promise<Executor>;
}
