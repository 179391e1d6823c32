import type {
  AbTestDescriptor,
  ArtifactRef,
  CairnEvent,
  DeployerDescriptor,
  ExecutionStatus,
  ExecutorDescriptor,
  MetadataStore,
  ModelLoader,
  PlanReason,
  RunCounts,
  RunStatus,
  StorageDriver,
} from '@cairn/core';
import type { LeaseOptions } from './lease';
/**
 * What the local orchestrator takes and returns. `runPipeline` drives a run;
 * `planPipeline` answers what a run would do, without running anything.
 */

/** Where a run reads and writes: the stack. */
export interface RunStackOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  /** @default inProcess() */
  executor?: ExecutorDescriptor;
}

/** Which project and environment the run belongs to. */
export interface RunProjectOptions {
  /** Environment name: selects `conf/<env>/` overrides and is recorded on the run. @default 'local' */
  env?: string;
  /** The project folder: git state, command steps' cwd, relative `sources`. @default process.cwd() */
  projectDir?: string;
  /** Folder of step configs. @default `<projectDir>/conf` */
  confDir?: string;
  /** Scratch folder for step workdirs. @default `<stateDir>/tmp` */
  tmpDir?: string;
  /** Cairn's local state folder (the deployer's and A/B engine's files). @default `<projectDir>/.cairn` */
  stateDir?: string;
}

/** What the steps are configured with. */
export interface RunConfigOptions {
  /** Configs given in code, per step name; they take the place of conf/base files. */
  configs?: Record<string, unknown>;
  /** `--set step.key=value` flags, or already-parsed overrides per step. */
  overrides?: string[] | Record<string, Record<string, unknown>>;
  /** Process environment for `${env:…}` references. @default process.env */
  environment?: NodeJS.ProcessEnv;
}

/** How the run is driven and watched. */
export interface RunControlOptions {
  /** Run every step, reuse nothing (results are still recorded and cached for later). @default false */
  noCache?: boolean;
  /** Step names to re-execute even when cached. */
  force?: string[];
  /**
   * How a cached output is checked before it is reused. `'stamp'`: hashed
   * only when its file's size, mtime, ctime or inode changed since its bytes
   * were last known good (local store; other stores always hash). `'full'`:
   * every cached output is hashed on every run. See docs/durability.md.
   * @default 'stamp'
   */
  verifyOutputs?: 'stamp' | 'full';
  /**
   * Run this step and everything downstream of it (`cairn run --from`). The
   * steps it reads must be cached (same config, code and inputs) or the run
   * is refused with `CAIRN_UPSTREAM_NOT_CACHED` before anything is recorded.
   */
  from?: string;
  /** Run exactly these steps (`cairn run --only`); what they read comes from the cache, as for `from`. */
  only?: string[];
  /** Most steps running at once. @default the executor's concurrency */
  concurrency?: number;
  /** Abort to cancel the run: running steps see their signal fire, the run ends `cancelled`. */
  signal?: AbortSignal;
  /** Receives every event, in order. */
  onEvent?: (event: CairnEvent) => void;
  /** Labels stored on the run. */
  tags?: Record<string, string>;
  /**
   * How the run keeps its lease in the metadata store, which tells every
   * other process that it is alive (docs/durability.md).
   * @default { renewMs: 10_000, durationMs: 60_000 }
   */
  lease?: LeaseOptions;
  /**
   * Bytes of each execution's log kept in `<stateDir>/logs` (the newest
   * lines; the dropped head is counted). 0 keeps no logs.
   * @default 1048576 (1 MiB)
   */
  stepLogBytes?: number;
}

/** The services the run lends to steps that declare them (`uses`). */
export interface RunServiceOptions {
  /** The deployer lent to steps that use `deployer`. */
  deployer?: DeployerDescriptor;
  /** The A/B engine lent to steps that use `abtest`. */
  abtest?: AbTestDescriptor;
  /** Model loaders by bundle flavor, for the deployer (`serving.loaders` in cairn.config.ts). */
  loaders?: Record<string, ModelLoader>;
}

/** Everything `runPipeline` takes, grouped by concern. `openProject(…).runOptions()` fills the first three. */
export interface RunOptions
  extends RunStackOptions,
    RunProjectOptions,
    RunServiceOptions,
    RunConfigOptions,
    RunControlOptions {}

export interface StepOutcome {
  status: ExecutionStatus;
  /** Why it ran or did not. */
  reason: PlanReason | 'upstream-failed';
  executionId?: string;
  durationMs?: number;
  attempts?: number;
  outputs: Record<string, ArtifactRef>;
  error?: { code?: string; message: string };
}

export interface RunResult {
  runId: string;
  pipeline: string;
  env: string;
  status: RunStatus;
  durationMs: number;
  counts: RunCounts;
  /** Per step node name; for a slice (`from`, `only`), its steps and the upstream steps it read. */
  steps: Record<string, StepOutcome>;
  /** First failure, when the run failed. */
  error?: { step?: string; code?: string; message: string };
}

export type PlanOptions = Omit<
  RunOptions,
  'executor' | 'concurrency' | 'signal' | 'onEvent' | 'tags' | 'tmpDir' | 'lease'
>;

export interface PlannedStep {
  step: string;
  /** `cached`: would be reused; `run`: would execute. */
  action: 'cached' | 'run';
  reason: PlanReason;
  /** What the reason is about: `output model sha256:…` for `corrupt`, the changed file for `code-changed`. */
  detail?: string;
  /** Known when all inputs are known (no upstream step runs). */
  cacheKey?: string;
  /** Steps it waits for. */
  dependsOn: string[];
}

export interface Plan {
  pipeline: string;
  env: string;
  /** The slice planned (`from train`, `only train,evaluate`); absent for the whole pipeline. */
  slice?: string;
  steps: PlannedStep[];
}
