/**
 * Every error Cairn raises on purpose is a `CairnError` with a stable `code`.
 * The codes, their meaning and the fix are listed in docs/errors.md; keep the
 * two in step (a test checks that every code here appears there).
 */
export const ErrorCodes = {
  /** A step's config file or override does not satisfy the step's schema. */
  CONFIG_INVALID: 'CAIRN_CONFIG_INVALID',
  /** A config file cannot be read or parsed (YAML syntax, not an object). */
  CONFIG_UNREADABLE: 'CAIRN_CONFIG_UNREADABLE',
  /** A `${env:NAME}` reference names a variable that is not set. */
  CONFIG_ENV_MISSING: 'CAIRN_CONFIG_ENV_MISSING',
  /** A `--set step.key=value` override is malformed or names an unknown step. */
  CONFIG_OVERRIDE_INVALID: 'CAIRN_CONFIG_OVERRIDE_INVALID',
  /** `cairn.config.ts` is missing, does not export a config, or names an unknown env. */
  STACK_INVALID: 'CAIRN_STACK_INVALID',
  /** A plugin factory was called with an invalid option. */
  PLUGIN_OPTIONS_INVALID: 'CAIRN_PLUGIN_OPTIONS_INVALID',
  /** A package given to `cairn add` is not a valid Cairn plugin: its package.json "cairn" field is missing or malformed. */
  PLUGIN_INVALID: 'CAIRN_PLUGIN_INVALID',
  /** A step definition is malformed (bad name, bad declared inputs/outputs). */
  STEP_INVALID: 'CAIRN_STEP_INVALID',
  /** The pipeline graph is invalid: cycle, missing input, type mismatch, duplicate step. */
  PIPELINE_INVALID: 'CAIRN_PIPELINE_INVALID',
  /** A pipeline module could not be loaded or has no pipeline export. */
  PIPELINE_NOT_FOUND: 'CAIRN_PIPELINE_NOT_FOUND',
  /** A step's `run` threw or its command exited non-zero. */
  STEP_FAILED: 'CAIRN_STEP_FAILED',
  /** A step ran longer than its `timeoutMs`. */
  STEP_TIMEOUT: 'CAIRN_STEP_TIMEOUT',
  /** A step returned outputs that do not match its declaration (missing, extra, wrong type). */
  STEP_OUTPUT_INVALID: 'CAIRN_STEP_OUTPUT_INVALID',
  /** A slice of a pipeline (`--from`, `--only`) reads a step outside it that has no verified cached result. */
  UPSTREAM_NOT_CACHED: 'CAIRN_UPSTREAM_NOT_CACHED',
  /** The run was cancelled (SIGINT or an aborted signal). */
  RUN_CANCELLED: 'CAIRN_RUN_CANCELLED',
  /** An artifact name, digest or storage key is malformed or escapes the store. */
  ARTIFACT_KEY_INVALID: 'CAIRN_ARTIFACT_KEY_INVALID',
  /** No artifact with this digest exists in storage. */
  ARTIFACT_NOT_FOUND: 'CAIRN_ARTIFACT_NOT_FOUND',
  /** Stored bytes do not hash to their digest: the artifact is corrupt and refused. */
  ARTIFACT_CORRUPT: 'CAIRN_ARTIFACT_CORRUPT',
  /** A value cannot be serialized or deserialized as its declared artifact type. */
  ARTIFACT_TYPE_MISMATCH: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
  /** The storage backend failed (I/O error, network, permissions). */
  STORAGE_FAILED: 'CAIRN_STORAGE_FAILED',
  /** The metadata store failed or is not reachable. */
  METADATA_FAILED: 'CAIRN_METADATA_FAILED',
  /** A run, execution, model or version that was asked for does not exist. */
  METADATA_NOT_FOUND: 'CAIRN_METADATA_NOT_FOUND',
  /** A registry transition lost a race or starts from a stage the version is no longer in. */
  REGISTRY_CONFLICT: 'CAIRN_REGISTRY_CONFLICT',
  /** An executor could not run a task (worker crashed, module not loadable). */
  EXECUTOR_FAILED: 'CAIRN_EXECUTOR_FAILED',
  /** Bad command-line usage: unknown flag value, malformed argument. */
  USAGE: 'CAIRN_USAGE',
  /** The scaffolder was asked for something it refuses: bad name, unknown template, non-empty folder. */
  SCAFFOLD_INVALID: 'CAIRN_SCAFFOLD_INVALID',
  /** A promotion gate refused a candidate model. */
  GATE_REFUSED: 'CAIRN_GATE_REFUSED',
  /** Input data failed validation against its expected schema. */
  DATA_INVALID: 'CAIRN_DATA_INVALID',
  /** A deploy, traffic change or rollback was asked for with bad input (endpoint name, weights, model reference). */
  DEPLOY_INVALID: 'CAIRN_DEPLOY_INVALID',
  /** A model version could not be deployed or served (bundle unloadable, health check failed); traffic is unchanged. */
  DEPLOY_FAILED: 'CAIRN_DEPLOY_FAILED',
  /** No endpoint with this name is deployed. */
  DEPLOYMENT_NOT_FOUND: 'CAIRN_DEPLOYMENT_NOT_FOUND',
  /** A load test's measured latency, throughput or error rate broke one of its thresholds. */
  LOADTEST_FAILED: 'CAIRN_LOADTEST_FAILED',
  /** An A/B experiment definition or event is malformed, or conflicts with what is stored. */
  EXPERIMENT_INVALID: 'CAIRN_EXPERIMENT_INVALID',
  /** No A/B experiment with this name exists. */
  EXPERIMENT_NOT_FOUND: 'CAIRN_EXPERIMENT_NOT_FOUND',
  /** A request lacks the token its route requires (a model server's outcomes route). */
  UNAUTHORIZED: 'CAIRN_UNAUTHORIZED',
  /** A dashboard request came without the token a dashboard bound beyond loopback requires. */
  UI_UNAUTHORIZED: 'CAIRN_UI_UNAUTHORIZED',
  /** A dashboard action (promote, rollback, conclude) was asked of a read-only dashboard. */
  UI_READ_ONLY: 'CAIRN_UI_READ_ONLY',
  UI_INTERNAL: 'CAIRN_UI_INTERNAL', // the dashboard failed on a request for an uncoded reason (HTTP 500)
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** One problem inside an error that reports several at once (config validation). */
export interface ErrorIssue {
  /** Where: a file path, `--set`, or a step name. */
  source?: string;
  /** Key path inside the source, e.g. `['model', 'trees']`. */
  path?: ReadonlyArray<string | number>;
  /** What was wrong and what was expected. */
  message: string;
}

export interface CairnErrorOptions {
  cause?: unknown;
  /** Several problems reported at once; the message summarises them. */
  issues?: ErrorIssue[];
  /** A short hint the CLI prints under the message. */
  hint?: string;
  /** Context the host adds: which step, plugin or artifact the error came from. */
  context?: Record<string, string>;
}

const CAIRN_ERROR = Symbol.for('cairn.error');

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly issues: ErrorIssue[];
  readonly hint: string | undefined;
  context: Record<string, string>;
  readonly [CAIRN_ERROR] = true;

  constructor(code: ErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.issues = options.issues ?? [];
    this.hint = options.hint;
    this.context = options.context ?? {};
  }

  /** Works across module copies (worker threads, two installs) where instanceof does not. */
  static is(value: unknown): value is CairnError {
    return typeof value === 'object' && value !== null && (value as any)[CAIRN_ERROR] === true;
  }

  /** A plain object that survives structured clone and JSON (worker → orchestrator). */
  toJSON(): SerializedError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      issues: this.issues,
      hint: this.hint,
      context: this.context,
      stack: this.stack,
    };
  }
}

export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  issues?: ErrorIssue[];
  hint?: string | undefined;
  context?: Record<string, string>;
  stack?: string | undefined;
}

/** Turn anything thrown into a plain, cloneable record. */
export function serializeError(error: unknown): SerializedError {
  if (CairnError.is(error)) return error.toJSON();
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack, code: (error as any).code };
  }
  return { name: 'Error', message: String(error) };
}

/** Rebuild an error from its serialized form, keeping a `CairnError` a `CairnError`. */
export function deserializeError(data: SerializedError): Error {
  const known = Object.values(ErrorCodes) as string[];
  if (data.code && known.includes(data.code)) {
    const err = new CairnError(data.code as ErrorCode, data.message, {
      issues: data.issues ?? [],
      ...(data.hint ? { hint: data.hint } : {}),
      context: data.context ?? {},
    });
    if (data.stack) err.stack = data.stack;
    return err;
  }
  const err = new Error(data.message);
  err.name = data.name;
  if (data.stack) err.stack = data.stack;
  return err;
}

/** Format issues as indented lines under a headline, for messages and the CLI. */
export function formatIssues(issues: readonly ErrorIssue[]): string {
  return issues
    .map((issue) => {
      const where = [issue.source, issue.path && issue.path.length > 0 ? issue.path.join('.') : undefined]
        .filter(Boolean)
        .join(' → ');
      return `  - ${where ? `${where}: ` : ''}${issue.message}`;
    })
    .join('\n');
}
