import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { AbTestEngine } from './contracts/abtest';
import type { ArtifactMap, ArtifactType, ValuesOf } from './contracts/artifact';
import type { Deployer } from './contracts/deployer';
import type { StepLogLine } from './contracts/executor';
import type { ArtifactRef, ModelRegistry } from './contracts/metadata';
import { CairnError, ErrorCodes } from './errors';
import { callerModules, currentBuilder, type Handle, type HandlesOf } from './pipeline';
import type { StackSlot } from './stack';

/** Logger handed to a step: lines become `step.log` events and go to the run's log. */
export interface StepLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a step's `run` receives. */
export interface StepContext<Config, Inputs> {
  /** The validated config (conf/base + conf/<env> + --set, parsed by the schema). */
  config: Config;
  /** Input values, deserialized from storage. */
  inputs: Inputs;
  log: StepLogger;
  /** Fires on Ctrl-C, timeout or run cancellation; pass it to anything long. */
  signal: AbortSignal;
  /** An empty folder private to this attempt; removed after the step. */
  workdir: string;
  /** Node name of the step in the pipeline. */
  step: string;
  runId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Digest, type and size of each input, for steps that record lineage-aware facts (a registry entry). */
  artifacts: Record<string, ArtifactRef>;
  /** The pipeline this run belongs to. */
  pipeline: string;
  /** The project folder: resolve project-relative paths from config against it. */
  projectDir: string;
  /** The run's state folder (`stateDir`; `.cairn` by default), for files a step keeps about its run. */
  stateDir: string;
  /** The model registry, for steps that use `registry` (they run in the orchestrator's process). */
  registry?: ModelRegistry;
  /** The stack's deployer, for steps that use `deployer` (created in control mode). */
  deployer?: Deployer;
  /** The stack's A/B engine, for steps that use `abtest`. */
  abtest?: AbTestEngine;
}

/** Retry policy: a count, or a count with a backoff. */
export type RetryPolicy = number | { attempts: number; backoffMs?: number };

/** Fields shared by TypeScript steps and command steps. */
interface StepCommon<Config, Inputs extends ArtifactMap, Outputs extends ArtifactMap> {
  /** Name of the step; also its config file name (`conf/base/<name>.yaml`). */
  name: string;
  description?: string;
  /** Any Standard Schema validator (zod, valibot, arktype). No schema: config is `{}`. */
  config?: StandardSchemaV1<unknown, Config>;
  inputs?: Inputs;
  outputs: Outputs;
  /**
   * Bump to invalidate cached results when something the code fingerprint
   * cannot see changed (data a module reads at run time, a model server).
   */
  version?: string | number;
  /** Extra attempts after a failure. @default 0 */
  retries?: RetryPolicy;
  /** Abort the attempt after this long. @default no limit */
  timeoutMs?: number;
  /** `false`: never reuse, always run (e.g. a step that reads live data). @default true */
  cache?: boolean;
  /**
   * Files (relative to the project) whose contents belong to the step's code
   * fingerprint beyond what its module imports — a Python script's helpers.
   */
  sources?: string[];
  /**
   * Called on a cache hit with the cached output values: return `false` when
   * something the cache key cannot see has changed since (a registry decision
   * another promotion overtook). The step then runs again, reason
   * `state-changed`. It receives the services the step `uses`.
   */
  reuse?(
    context: { outputs: ValuesOf<Outputs>; config: Config } & Partial<LentServices>,
  ): boolean | Promise<boolean>;
  /**
   * The services the run lends this step, by name: `registry` (the metadata
   * store's model registry), `deployer`, `abtest`. A step that uses any runs
   * in the orchestrator's process, next to the connections the run holds,
   * whatever the executor. A run whose stack lacks a used service is refused
   * before anything is recorded; `'abtest?'` (a trailing `?`) lends it only
   * when the stack has one, and `ctx.abtest` may then be undefined.
   * @default []
   * @example uses: ['registry', 'deployer', 'abtest?']
   */
  uses?: readonly ServiceUse[];
}

/** A step written in TypeScript. */
export interface StepDefinition<Config, Inputs extends ArtifactMap, Outputs extends ArtifactMap>
  extends StepCommon<Config, Inputs, Outputs> {
  // NoInfer: outputs are inferred from `outputs` alone; `run` is checked against them.
  run(
    context: StepContext<Config, ValuesOf<Inputs>>,
  ): Promise<NoInfer<ValuesOf<Outputs>>> | NoInfer<ValuesOf<Outputs>>;
}

/**
 * A step whose body is a shell command. Before it runs, the resolved config is
 * written to `{config}` (JSON), each input is materialized at
 * `{inputs}/<name>`, and the command must leave each output at
 * `{outputs}/<name>` (a file for blob types, a folder for trees).
 *
 * Placeholders: `{config}`, `{inputs}`, `{outputs}`, `{inputs.<name>}`,
 * `{outputs.<name>}`, `{workdir}` — replaced by shell-quoted paths. The same
 * paths are in the environment as `CAIRN_CONFIG`, `CAIRN_INPUTS`,
 * `CAIRN_OUTPUTS`, `CAIRN_WORKDIR`.
 */
export interface CommandStepDefinition<Config, Inputs extends ArtifactMap, Outputs extends ArtifactMap>
  extends StepCommon<Config, Inputs, Outputs> {
  command: string;
  /** Extra environment for the command. */
  env?: Record<string, string>;
}

export type AnyStepDefinition =
  | StepDefinition<any, ArtifactMap, ArtifactMap>
  | CommandStepDefinition<any, ArtifactMap, ArtifactMap>;

/** Options when calling a step inside a pipeline builder. */
export interface StepCallOptions {
  /** Node name, when one step appears twice in a pipeline. @default the step's name */
  as?: string;
}

const STEP = Symbol.for('cairn.step');

/**
 * A step: call it inside `pipeline(...)` with handles of its inputs to get
 * handles of its outputs. The compiler checks that each handle carries the
 * artifact type the input declares.
 */
export type Step<
  Config,
  Inputs extends ArtifactMap,
  Outputs extends ArtifactMap,
> = (keyof Inputs extends never
  ? (inputs?: Record<string, never>, options?: StepCallOptions) => HandlesOf<Outputs>
  : (inputs: HandlesOf<Inputs>, options?: StepCallOptions) => HandlesOf<Outputs>) & {
  readonly kind: 'step';
  readonly definition:
    | StepDefinition<Config, Inputs, Outputs>
    | CommandStepDefinition<Config, Inputs, Outputs>;
};

/** Any step, whatever its config, inputs and outputs. */
export type AnyStep = ((...args: any[]) => Record<string, Handle<any, string>>) & {
  readonly kind: 'step';
  readonly definition: AnyStepDefinition;
  /** Where it was defined (absolute paths, innermost first): the code fingerprint starts there. */
  readonly modules?: readonly string[];
};

export function isStep(value: unknown): value is AnyStep {
  return typeof value === 'function' && (value as any)[STEP] === true;
}

export function isCommandStep(
  definition: AnyStepDefinition,
): definition is CommandStepDefinition<any, any, any> {
  return typeof (definition as CommandStepDefinition<any, any, any>).command === 'string';
}

const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/i;

/** What `{…}` in a command step's command may name; the runner substitutes the same set. */
export const COMMAND_PLACEHOLDER = /\{([a-zA-Z0-9_.-]+)\}/g;

/** The placeholders a command step may use: `config`, `inputs`, `outputs`, `workdir` and one per input and output. */
export function commandPlaceholders(definition: {
  inputs?: ArtifactMap | undefined;
  outputs?: ArtifactMap | undefined;
}): Set<string> {
  const known = new Set(['config', 'inputs', 'outputs', 'workdir']);
  for (const name of Object.keys(definition.inputs ?? {})) known.add(`inputs.${name}`);
  for (const name of Object.keys(definition.outputs ?? {})) known.add(`outputs.${name}`);
  return known;
}

/** Placeholder names in a command that are not in `known`, each once, in order of appearance. */
export function unknownCommandPlaceholders(command: string, known: ReadonlySet<string>): string[] {
  const unknown = new Set<string>();
  for (const match of command.matchAll(COMMAND_PLACEHOLDER)) {
    if (!known.has(match[1]!)) unknown.add(match[1]!);
  }
  return [...unknown];
}

function checkDefinition(definition: AnyStepDefinition): void {
  servicesUsed(definition); // an unknown service fails here, where the step is defined
  const issues: string[] = [];
  if (typeof definition.name !== 'string' || !NAME_PATTERN.test(definition.name)) {
    issues.push(
      `name ${JSON.stringify(definition.name)} must start with a letter and use letters, digits, "_" or "-" (at most 64)`,
    );
  }
  const checkMap = (label: 'inputs' | 'outputs', map: ArtifactMap | undefined) => {
    if (map === undefined) return;
    for (const [key, type] of Object.entries(map)) {
      if (!NAME_PATTERN.test(key)) issues.push(`${label}.${key}: name must be an identifier`);
      if (!type || (type as ArtifactType).kind !== 'artifact-type') {
        issues.push(`${label}.${key}: expected an artifact type such as json(), model() or table()`);
      }
    }
  };
  checkMap('inputs', definition.inputs);
  checkMap('outputs', definition.outputs);
  if (!definition.outputs || typeof definition.outputs !== 'object') issues.push('outputs: required');
  if (
    definition.config !== undefined &&
    typeof (definition.config as any)?.['~standard']?.validate !== 'function'
  ) {
    issues.push('config: expected a Standard Schema validator (e.g. a zod schema)');
  }
  const retries = definition.retries;
  const attempts = typeof retries === 'object' ? retries.attempts : retries;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 0)) {
    issues.push('retries: expected a non-negative integer');
  }
  if (definition.timeoutMs !== undefined && !(definition.timeoutMs > 0))
    issues.push('timeoutMs: expected a positive number');
  // Checked here, when the pipeline module loads, so that a typo such as {confg} fails before a run is recorded.
  if (isCommandStep(definition) && issues.length === 0) {
    const known = commandPlaceholders(definition);
    for (const name of unknownCommandPlaceholders(definition.command, known)) {
      issues.push(
        `command: unknown placeholder {${name}} (known: ${[...known].map((key) => `{${key}}`).join(', ')})`,
      );
    }
  }
  if (issues.length > 0) {
    throw new CairnError(
      ErrorCodes.STEP_INVALID,
      `Step ${JSON.stringify(definition.name)} is invalid:\n${issues.map((i) => `  - ${i}`).join('\n')}`,
      { issues: issues.map((message) => ({ source: String(definition.name), message })) },
    );
  }
}

function makeStep(definition: AnyStepDefinition): AnyStep {
  checkDefinition(definition);
  const call = (inputs: Record<string, Handle<any, string>> | undefined, options?: StepCallOptions) => {
    const builder = currentBuilder();
    if (!builder) {
      throw new CairnError(
        ErrorCodes.PIPELINE_INVALID,
        `Step "${definition.name}" was called outside a pipeline builder`,
        { hint: 'Call steps inside pipeline("name", () => { … }) to wire them.' },
      );
    }
    return builder.addNode(call as unknown as AnyStep, inputs ?? {}, options);
  };
  Object.defineProperties(call, {
    kind: { value: 'step', enumerable: true },
    definition: { value: definition, enumerable: true },
    modules: { value: callerModules() },
    [STEP]: { value: true },
  });
  return call as unknown as AnyStep;
}

/**
 * Define a step in TypeScript: one validated config in, typed artifacts out.
 *
 * @example
 * ```ts
 * export const train = step({
 *   name: 'train',
 *   config: z.object({ trees: z.number().int().positive() }),
 *   inputs: { train: table<Penguin>() },
 *   outputs: { model: model(), metrics: metrics() },
 *   async run({ config, inputs }) { … return { model, metrics }; },
 * });
 * ```
 */
export function step<
  Config = Record<string, never>,
  Inputs extends ArtifactMap = {},
  Outputs extends ArtifactMap = {},
>(definition: StepDefinition<Config, Inputs, Outputs>): Step<Config, Inputs, Outputs> {
  if (typeof definition.run !== 'function') {
    throw new CairnError(
      ErrorCodes.STEP_INVALID,
      `Step ${JSON.stringify(definition.name)} needs a run function`,
    );
  }
  return makeStep(definition as AnyStepDefinition) as Step<Config, Inputs, Outputs>;
}

/**
 * Define a step whose body is a shell command, so training code in Python (or
 * anything) is a first-class step with declared, tracked artifacts.
 *
 * @example
 * ```ts
 * export const trainPy = commandStep({
 *   name: 'train',
 *   command: 'python train.py --config {config} --data {inputs.train} --out {outputs.model}',
 *   sources: ['train.py'],
 *   inputs: { train: file() },
 *   outputs: { model: dir() },
 * });
 * ```
 */
export function commandStep<
  Config = Record<string, unknown>,
  Inputs extends ArtifactMap = {},
  Outputs extends ArtifactMap = {},
>(definition: CommandStepDefinition<Config, Inputs, Outputs>): Step<Config, Inputs, Outputs> {
  if (typeof definition.command !== 'string' || definition.command.trim() === '') {
    throw new CairnError(ErrorCodes.STEP_INVALID, `Step ${JSON.stringify(definition.name)} needs a command`);
  }
  return makeStep(definition as AnyStepDefinition) as Step<Config, Inputs, Outputs>;
}

export type { StepLogLine };

/**
 * The services a run lends to steps, each made from one stack slot. To lend
 * a new kind of plugin to steps: add its contract, its slot in `STACK_SLOTS`
 * and `Stack`, and one entry here and in `SERVICE_SLOTS`.
 */
export interface LentServices {
  registry: ModelRegistry;
  deployer: Deployer;
  abtest: AbTestEngine;
}

/** A service name, or the name with `?` for "when the stack has one". */
export type ServiceUse = keyof LentServices | `${keyof LentServices}?`;

/** The stack slot each lent service comes from. */
export const SERVICE_SLOTS = {
  registry: 'metadata',
  deployer: 'deployer',
  abtest: 'abtest',
} as const satisfies Record<keyof LentServices, StackSlot>;

/** A step's `uses`, parsed: each service once, and whether the step can do without it. */
export function servicesUsed(definition: {
  name?: string;
  uses?: readonly ServiceUse[];
}): { service: keyof LentServices; optional: boolean }[] {
  const used = new Map<keyof LentServices, boolean>();
  for (const use of definition.uses ?? []) {
    const optional = use.endsWith('?');
    const service = (optional ? use.slice(0, -1) : use) as keyof LentServices;
    if (!(service in SERVICE_SLOTS)) {
      throw new CairnError(
        ErrorCodes.STEP_INVALID,
        `Step "${definition.name ?? '?'}" uses "${use}", which is not a service (known: ${Object.keys(SERVICE_SLOTS).join(', ')})`,
      );
    }
    used.set(service, (used.get(service) ?? true) && optional);
  }
  return [...used].map(([service, optional]) => ({ service, optional }));
}
