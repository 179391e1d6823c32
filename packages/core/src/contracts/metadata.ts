import type { Digest } from './storage';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type ExecutionStatus = 'succeeded' | 'failed' | 'cached' | 'skipped' | 'cancelled';
export type ModelStage = 'none' | 'staging' | 'production' | 'archived';

/** Counts of what a run did, stored when it finishes. */
export interface RunCounts {
  executed: number;
  cached: number;
  failed: number;
  skipped: number;
}

/** One pipeline run. */
export interface RunRecord {
  /** Sortable unique id (time-ordered), e.g. `r_01J9…`. */
  id: string;
  pipeline: string;
  /** The stack environment, e.g. `'local'`, `'ci'`, `'prod'`. */
  env: string;
  status: RunStatus;
  /** ISO-8601 times. */
  startedAt: string;
  finishedAt?: string;
  /** Git commit of the project and whether the work tree had changes. */
  git?: { commit: string; dirty: boolean };
  /** Versions of Node and of the Cairn packages that ran. */
  versions: Record<string, string>;
  /**
   * Step name → digest of its resolved config (canonical JSON, `${env:…}`
   * references kept): the config's identity, used in cache keys and to tell
   * what changed between runs. The bytes are in {@link configBundle}.
   */
  configs: Record<string, Digest>;
  /**
   * A `json` artifact holding every step's resolved config, `{ [step]: config }`:
   * one object per run rather than one per step (on a 1,000-step pipeline,
   * 1,000 small files cost more than everything else the orchestrator does).
   */
  configBundle?: Digest;
  counts?: RunCounts;
  /** Free-form labels, e.g. `{ trigger: 'ci' }`. */
  tags?: Record<string, string>;
  /** Host and process that drive the run; lets tools tell a crashed run from a live one. */
  host?: { hostname: string; pid: number };
  /**
   * The run's lease (ISO-8601 times), renewed by its process while it runs
   * ({@link MetadataStore.heartbeat}). Once `expiresAt` has passed, any
   * process on any host may judge the run abandoned ({@link MetadataStore.abandonRun}).
   */
  lease?: { heartbeatAt: string; expiresAt: string };
  /** Why the run failed, in one line. */
  error?: string;
}

/** A reference to a stored artifact as it crosses steps and processes. */
export interface ArtifactRef {
  digest: Digest;
  /** Artifact type name, e.g. `'json'`, `'model'`, `'table'`. */
  type: string;
  size: number;
}

/** What is known about one artifact. Artifacts are immutable; the first producer is kept. */
export interface ArtifactRecord extends ArtifactRef {
  /** Small description from the type's `describe` (row count, schema, flavor…). */
  metadata?: Record<string, unknown>;
  /** The first execution that produced it. */
  producer?: { runId: string; step: string; output: string; executionId: string };
  createdAt: string;
}

/** One attempt to produce a step's outputs within a run (or a reuse of a cached one). */
export interface ExecutionRecord {
  /** Unique id, e.g. `e_01J9…`. */
  id: string;
  runId: string;
  /** Node name of the step in the pipeline. */
  step: string;
  status: ExecutionStatus;
  /** The cache key it answers: a digest of name, code, version, config and input digests (DESIGN.md), so equal keys, equal inputs. */
  cacheKey: string;
  /** Whether the outputs may be reused by later runs (`cache: false` steps say no). */
  cacheable: boolean;
  /** For `cached`: the execution whose outputs were reused. */
  cachedFrom?: string;
  inputs: Record<string, ArtifactRef>;
  outputs: Record<string, ArtifactRef>;
  /** Digest of the resolved config artifact. */
  configDigest?: Digest;
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  /** Attempts made (1 + retries used). */
  attempts: number;
  /** One-line error for failed executions; the code when it was a CairnError. */
  error?: { code?: string; message: string };
  /** Why it executed or was reused, as the orchestrator said: `cached`, `new`, `code-changed: src/x.ts`… */
  reason?: string;
}

/** What a cache lookup returns: the execution to reuse and its outputs. */
export interface CacheEntry {
  cacheKey: string;
  executionId: string;
  runId: string;
  outputs: Record<string, ArtifactRef>;
  createdAt: string;
}

/** Filters of {@link MetadataStore.listRuns}; they combine with AND. */
export interface RunQuery {
  /** Only runs of this pipeline. */
  pipeline?: string;
  status?: RunStatus;
  /** Only runs in this stack environment. */
  env?: string;
  /** Only runs started strictly before this run id (for paging, newest first). */
  before?: string;
  /** @default 50 */
  limit?: number;
}

/** Filters of {@link MetadataStore.listArtifacts}; they combine with AND. */
export interface ArtifactQuery {
  /** Only artifacts of this type name, e.g. `'model'`. */
  type?: string;
  /** Only artifacts output by an execution of this run (cached executions included). */
  runId?: string;
  /** @default 100 */
  limit?: number;
}

/** A lineage graph around one artifact or run: nodes and directed edges. */
export interface LineageGraph {
  artifacts: ArtifactRecord[];
  executions: ExecutionRecord[];
  /** `from` and `to` are artifact digests or execution ids. */
  edges: Array<{ from: string; to: string; name: string; kind: 'input' | 'output' }>;
}

/** One version of a registered model. */
export interface ModelVersion {
  model: string;
  /** 1, 2, 3… per model, in registration order. */
  version: number;
  /** Digest of the `model` artifact. */
  digest: Digest;
  stage: ModelStage;
  metrics: Record<string, number>;
  runId?: string;
  createdAt: string;
  description?: string;
}

/** One recorded stage change — or an attempt that lost a race. */
export interface StageTransition {
  model: string;
  version: number;
  from: ModelStage;
  to: ModelStage;
  reason: string;
  actor: string;
  at: string;
  /** `false` for an attempt refused with `CAIRN_REGISTRY_CONFLICT`. */
  accepted: boolean;
}

/** What {@link ModelRegistry.registerModel} takes. */
export interface RegisterModelInput {
  /** The model's name, e.g. `'penguins'`; versions are numbered per name. */
  model: string;
  /** Digest of the `model` artifact; one version per digest and model. */
  digest: Digest;
  /** The version's offline metrics, e.g. `{ accuracy: 0.97 }`. @default {} */
  metrics?: Record<string, number>;
  /** The run that produced it. */
  runId?: string;
  description?: string;
}

/**
 * What {@link ModelRegistry.transitionStage} takes.
 *
 * @example
 * ```ts
 * // promote v4 only if v3 is still production (what the gate step does)
 * await metadata.transitionStage({ model: 'penguins', version: 4, to: 'production', reason: 'gate: accuracy +0.02', actor: 'ci', expectedFrom: 'none', expectedIncumbent: 3 });
 * ```
 */
export interface TransitionInput {
  model: string;
  version: number;
  /** The stage to move to. */
  to: ModelStage;
  /** Why, in one line; kept in the history. */
  reason: string;
  /** Who asked: a user name, `ci`, or a step. @default 'unknown' */
  actor?: string;
  /**
   * Optimistic concurrency: the stage the caller believes the version is in.
   * When it no longer is, the transition is refused with
   * `CAIRN_REGISTRY_CONFLICT` (and the attempt is still recorded).
   */
  expectedFrom?: ModelStage;
  /**
   * Optimistic concurrency on the target stage: the version the caller
   * believes holds `to` now (`null`: no version does). When another version
   * holds it — someone promoted in between — the transition is refused with
   * `CAIRN_REGISTRY_CONFLICT` (and the attempt is recorded). Two gates that
   * compared against the same production version cannot both win.
   */
  expectedIncumbent?: number | null;
  /**
   * When moving to `production` (or `staging`), move the version currently in
   * that stage to `archived` in the same transaction.
   * @default true
   */
  archivePrevious?: boolean;
}

/** The model registry, part of the metadata store. */
export interface ModelRegistry {
  /**
   * Add a version in stage `none`, numbered one above the model's latest
   * (the first is 1). Registering a digest the model already has returns that
   * version unchanged; concurrent registrations get distinct, consecutive numbers.
   *
   * @example await metadata.registerModel({ model: 'penguins', digest, metrics: { accuracy: 0.97 }, runId })
   * @throws CAIRN_ARTIFACT_KEY_INVALID when `digest` is malformed (nothing registered)
   * @throws CAIRN_METADATA_FAILED when `model` is empty
   */
  registerModel(input: RegisterModelInput): Promise<ModelVersion>;
  /** One version, or `undefined` for an unknown model or version (never throws for those). */
  getModelVersion(model: string, version: number): Promise<ModelVersion | undefined>;
  /** Versions of one model, newest first; `[]` for an unknown model. */
  listModelVersions(model: string): Promise<ModelVersion[]>;
  /**
   * Every model name with its latest version and its production and staging
   * versions, if any. Order is unspecified; sort by `model` to show it.
   */
  listModels(): Promise<Array<{ model: string; latest: number; production?: number; staging?: number }>>;
  /**
   * The version currently in a stage, if any. With `archivePrevious: false`
   * two versions may share a stage: the newest is returned.
   */
  getModelByStage(
    model: string,
    stage: Exclude<ModelStage, 'none' | 'archived'>,
  ): Promise<ModelVersion | undefined>;
  /**
   * Change a version's stage and record the transition, atomically, by the
   * rule of `planStageTransition` (`@cairn/runtime/plugin-kit`): moving to `production` or `staging`
   * archives the previous holder (unless `archivePrevious: false`), and a
   * refused attempt is still recorded with `accepted: false`.
   *
   * @returns the accepted transition of `input.version`
   * @throws CAIRN_METADATA_NOT_FOUND for an unknown model or version (nothing recorded)
   * @throws CAIRN_REGISTRY_CONFLICT when `expectedFrom` is not the version's stage, or
   *   `expectedIncumbent` is not the version holding `to` (another promotion happened in between)
   * @throws CAIRN_METADATA_FAILED for a malformed input (version not a positive integer, unknown stage)
   */
  transitionStage(input: TransitionInput): Promise<StageTransition>;
  /** Every transition of a model (accepted and refused), oldest first; `[]` for an unknown model. */
  modelHistory(model: string): Promise<StageTransition[]>;
}

/** The object every metadata plugin's factory returns. */
export interface MetadataStore extends ModelRegistry {
  readonly kind: 'metadata';
  /** Short id of the implementation: `'memory'`, `'sqlite'`, `'postgres'`. */
  readonly name: string;
  /** How to re-create this store in a worker process (see PluginRef in storage.ts). */
  readonly ref?: import('./storage').PluginRef;

  /**
   * Create the schema or run pending migrations. Idempotent; safe when several
   * processes call it at once. Stores that connect lazily also connect on the
   * first other call, so calling `init` is optional: it surfaces connection and
   * migration errors early.
   * @throws CAIRN_METADATA_FAILED when the store cannot be reached, or its schema is newer than this plugin
   */
  init?(): Promise<void>;

  /**
   * Store a new run, usually with status `running`.
   * @throws CAIRN_METADATA_FAILED when a run with this id already exists (the stored run is unchanged)
   * @throws CAIRN_ARTIFACT_KEY_INVALID when a config digest or `configBundle` is malformed
   */
  createRun(run: RunRecord): Promise<void>;
  /**
   * Update status, finish time, counts or error of a run. Keys left `undefined` keep their
   * stored value; an empty patch changes nothing; `error: ''` clears the error (read back absent).
   * @example await metadata.updateRun(id, { status: 'succeeded', finishedAt: new Date().toISOString(), counts })
   * @throws CAIRN_METADATA_NOT_FOUND when no run has this id
   */
  updateRun(
    id: string,
    patch: Partial<Pick<RunRecord, 'status' | 'finishedAt' | 'counts' | 'error'>>,
  ): Promise<void>;
  /**
   * Renew the lease of a `running` run: store `lease` as given.
   * @returns `false`, storing nothing, when the run is no longer `running` (finished, or judged abandoned)
   * @throws CAIRN_METADATA_NOT_FOUND when no run has this id
   * @throws CAIRN_METADATA_FAILED when a time is not as `toISOString()` writes it (stores compare them as text)
   */
  heartbeat(id: string, lease: NonNullable<RunRecord['lease']>): Promise<boolean>;
  /**
   * Mark a `running` run `failed` with `error` and `finishedAt`: its process is gone. Checked and
   * written atomically, so a run that finished meanwhile is left alone and, with `expiredBy`, so is
   * a run without a lease or whose lease is still valid at that time (its process renewed it).
   * @returns whether the run was marked
   * @throws CAIRN_METADATA_NOT_FOUND when no run has this id, CAIRN_METADATA_FAILED for a malformed time
   */
  abandonRun(id: string, mark: { finishedAt: string; error: string; expiredBy?: string }): Promise<boolean>;
  /** One run, or `undefined` when no run has this id. */
  getRun(id: string): Promise<RunRecord | undefined>;
  /**
   * Runs, newest first (by id, which is time-ordered), filtered by `query`.
   * Page with `before`: the id of the last run of the previous page.
   * @default query.limit 50
   */
  listRuns(query?: RunQuery): Promise<RunRecord[]>;

  /**
   * Record one execution with its artifacts, lineage and — when it succeeded
   * and is cacheable — its cache entry, in one transaction. Artifacts already
   * known keep their first producer. Safe to call concurrently, also with
   * overlapping artifacts.
   * @throws CAIRN_METADATA_FAILED when an execution with this id is already recorded (nothing written)
   * @throws CAIRN_ARTIFACT_KEY_INVALID when an input, output or artifact digest is malformed (nothing written)
   */
  recordExecution(execution: ExecutionRecord, artifacts: ArtifactRecord[]): Promise<void>;
  /** Executions of a run in the order they were recorded; `[]` for an unknown run. */
  listExecutions(runId: string): Promise<ExecutionRecord[]>;
  /** One execution, or `undefined` when none has this id. */
  getExecution(id: string): Promise<ExecutionRecord | undefined>;

  /**
   * The cache entry of a key: the last recorded execution under it with
   * status `succeeded` and `cacheable: true`, or `undefined`. The caller still
   * verifies the outputs in storage before reusing them.
   */
  lookupCache(cacheKey: string): Promise<CacheEntry | undefined>;
  /**
   * Forget a cache entry (its outputs were found missing or corrupt). Older
   * executions under the key do not come back; the next succeeded one does.
   * Forgetting an unknown key is not an error.
   */
  invalidateCache(cacheKey: string): Promise<void>;

  /** What is known about one artifact, or `undefined` when no execution recorded it. */
  getArtifact(digest: Digest): Promise<ArtifactRecord | undefined>;
  /**
   * Artifacts, newest first (by `createdAt`), filtered by `query`.
   * @default query.limit 100
   */
  listArtifacts(query?: ArtifactQuery): Promise<ArtifactRecord[]>;
  /**
   * Lineage around an artifact digest or a run id: `up` follows producers,
   * `down` follows consumers, `both` does both (the union of the two; it
   * never goes up and then down to siblings). `depth` counts executions: one
   * level up from an artifact is its producers with their inputs, one level
   * down is its consumers with their outputs; a run's own executions are
   * level 0.
   * An unknown digest or run gives a graph with no executions.
   * @default direction 'both', depth unlimited
   * @example await metadata.lineage({ digest }, { direction: 'up', depth: 2 })
   * @throws CAIRN_ARTIFACT_KEY_INVALID when `digest` is malformed
   */
  lineage(
    target: { digest: Digest } | { runId: string },
    options?: { direction?: 'up' | 'down' | 'both'; depth?: number },
  ): Promise<LineageGraph>;

  /** Release connections and file handles. Calling it twice is not an error. */
  close?(): Promise<void>;
}
