import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { CairnError, type ErrorCode, ErrorCodes, type ErrorIssue, formatIssues } from '@cairn/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import {
  describeEnvProblem,
  type EnvProblem,
  recordParsedSecrets,
  scrubSecrets,
  substituteEnvRefs,
} from './env';
import { dataLayer, type Layer, type LayerProblem, parseLayerFile } from './layers';
import { type ConfigObject, cloneData, deepMerge, dotted, isPlainObject, listPaths } from './merge';
import { type ConfigOverrides, collectOverrides } from './overrides';
import { describeUnknownKey, findUnknownKeys, knownKeysAt } from './unknown-keys';

/** Where one key of a step's config came from. */
export interface ConfigSource {
  /** A file path relative to the project (`conf/ci/train.yaml`), `--set` or `inline`. */
  source: string;
  /** 1-based line of the key in that file. */
  line?: number;
}

/** One step's config, resolved. */
export interface ResolvedStepConfig {
  /**
   * What the step receives: the merged config with `${env:…}` substituted,
   * parsed by the step's schema (defaults applied, coercions done). May hold
   * secrets: never store or log it.
   */
  value: unknown;
  /**
   * The merged config before substitution, `${env:NAME}` references left in
   * place: what goes to the metadata store and into the cache key.
   */
  stored: ConfigObject;
  /** Dotted key path (`model.depth`, `layers.0`) → the layer that set it. */
  sources: Record<string, ConfigSource>;
  /** The secrets substituted into `value`: resolved value → variable name, for scrubbing (never store it). */
  secrets: ReadonlyMap<string, string>;
}

/** Resolved configs by step (node) name. */
export type ResolvedConfigs = Record<string, ResolvedStepConfig>;

/** A step whose config to resolve: its node name and its schema. */
export interface StepConfigRequest {
  /** Node name in the pipeline; also the config file name (`conf/base/<name>.yaml`). */
  name: string;
  /** The step's Standard Schema validator. None: the merged config is passed as is. */
  schema?: StandardSchemaV1 | undefined;
}

export interface ResolveStepConfigsOptions {
  /** The project's step config folder, holding `base/` and one folder per env. */
  confDir: string;
  /** Environment whose folder (`<confDir>/<env>/`) is merged over `base/`. */
  env: string;
  steps: readonly StepConfigRequest[];
  /**
   * `--set` flags as typed (`['train.trees=300']`) or already parsed by
   * `parseOverrides` (`{ train: { trees: 300 } }`). Merged last.
   */
  overrides?: readonly string[] | ConfigOverrides | undefined;
  /** Configs per step given in code; each takes the place of that step's `conf/base` file. */
  inline?: Record<string, unknown> | undefined;
  /** Where `${env:NAME}` is looked up. @default process.env */
  environment?: NodeJS.ProcessEnv | undefined;
  /**
   * Leave a reference to an unset variable as written instead of refusing it, and do not judge
   * the key holding it by the schema: for checking configs whose values are only known where the
   * steps run (`cairn export`). Every other key is still validated.
   * @default false
   */
  deferUnsetEnv?: boolean | undefined;
  /** Folder that file paths in sources and messages are relative to. @default the parent of confDir */
  projectDir?: string | undefined;
}

const EXTENSIONS = ['.yaml', '.yml', '.json'] as const;
const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Steps whose schema validates asynchronously, at most this many at once. */
const VALIDATE_CONCURRENCY = 32;
/** An options object, not `'utf8'`: readFileSync copies a string option into a new object on every call. */
const UTF8 = { encoding: 'utf8', flag: 'r' } as const;

type ProblemKind = 'invalid' | 'unreadable' | 'env' | 'override';

interface Problem {
  kind: ProblemKind;
  step?: string;
  issue: ErrorIssue;
}

interface Context {
  confDir: string;
  /** A folder of confDir: its absolute path and its path relative to the project (POSIX-style), computed once per folder. */
  confFolder: (folder: string) => { path: string; rel: string };
  projectDir: string;
  env: string;
  /** Step name → file names in `base/` and `<env>/` (several when .yaml and .json both exist). */
  baseFiles: Map<string, string[]>;
  envFiles: Map<string, string[]>;
  overrides: ConfigOverrides;
  inline: Record<string, unknown>;
  environment: NodeJS.ProcessEnv;
  deferUnsetEnv: boolean;
  /** Resolved values of every substituted reference, scrubbed from all messages. */
  /** Every secret substituted so far: value → variable name. */
  secrets: Map<string, string>;
}

interface StepOutcome {
  stored: ConfigObject;
  sources: Record<string, ConfigSource>;
  value: unknown;
  secrets: ReadonlyMap<string, string>;
  layers: string[];
  problems: Problem[];
}

/**
 * Resolve the config of every step of a run, before anything runs. For each
 * step: `<confDir>/base/<step>.yaml` (or `.yml`, `.json`; or `inline[step]`),
 * then `<confDir>/<env>/<step>.yaml` deep-merged over it, then the `--set`
 * overrides. Objects merge key by key; arrays and scalars replace.
 * `${env:NAME}` references are substituted in `value` only, then the step's
 * schema parses it.
 *
 * Every problem of every step is collected and thrown as one error whose
 * issues name the file and line, the key path, and what was expected.
 *
 * @throws CairnError `CAIRN_CONFIG_INVALID` (schema), `CAIRN_CONFIG_UNREADABLE`
 * (YAML syntax, not a mapping), `CAIRN_CONFIG_ENV_MISSING` (unset variable),
 * `CAIRN_CONFIG_OVERRIDE_INVALID` (malformed `--set`, unknown step); when
 * several kinds occur, `CAIRN_CONFIG_INVALID` with all of them in `issues`.
 *
 * @example
 * ```ts
 * const configs = await resolveStepConfigs({
 *   confDir: 'conf', env: 'ci', overrides: ['train.trees=10'],
 *   steps: [{ name: 'train', schema: z.object({ trees: z.number().int() }) }],
 * });
 * configs.train.value; // { trees: 10 }
 * ```
 */
export async function resolveStepConfigs(options: ResolveStepConfigsOptions): Promise<ResolvedConfigs> {
  const problems: Problem[] = [];
  const names = new Set(options.steps.map((step) => step.name));
  const context = await createContext(options, problems);

  for (const [label, map] of [
    ['--set', context.overrides],
    ['inline', context.inline],
  ] as const) {
    const unknown = Object.keys(map).filter((name) => !names.has(name));
    for (const name of unknown) {
      problems.push({
        kind: 'override',
        issue: {
          source: label,
          path: [name],
          message: `"${name}" is not a step of this pipeline (steps: ${listNames(names)})`,
        },
      });
    }
  }

  const outcomes = await mapLimit(options.steps, VALIDATE_CONCURRENCY, (step) => resolveOne(context, step));
  const result: ResolvedConfigs = {};
  options.steps.forEach((step, index) => {
    const outcome = outcomes[index]!;
    problems.push(...outcome.problems);
    result[step.name] = {
      value: outcome.value,
      stored: outcome.stored,
      sources: outcome.sources,
      secrets: outcome.secrets,
    };
  });
  if (problems.length > 0) throw configError(problems, context.secrets);
  return result;
}

/** One leaf of a step's config, for `cairn config <step>`. */
export interface ConfigEntry {
  /** Dotted key path. */
  key: string;
  /** The stored value: `${env:…}` references are shown, never resolved. */
  value: unknown;
  source: string;
  line?: number;
}

/** What `cairn config <step>` shows. */
export interface ConfigExplanation {
  step: string;
  /** Layers that were merged, first to last (files relative to the project, `inline`, `--set`). */
  layers: string[];
  /** The merged config, `${env:…}` references left in place. */
  stored: ConfigObject;
  /** Every leaf key with its value and where it was set. */
  entries: ConfigEntry[];
  /** Problems found (unreadable files, schema errors, unset variables); empty when the config is valid. */
  issues: ErrorIssue[];
}

/**
 * Explain one step's config without running anything: every leaf key with its
 * final stored value (`${env:…}` left in place) and the file and line that set
 * it. Problems are returned in `issues` rather than thrown, so that the
 * command can show what it could read alongside what is wrong.
 */
export async function explainConfig(
  options: Omit<ResolveStepConfigsOptions, 'steps'> & { step: string; schema?: StandardSchemaV1 | undefined },
): Promise<ConfigExplanation> {
  const problems: Problem[] = [];
  const context = await createContext(options, problems);
  const outcome = await resolveOne(context, { name: options.step, schema: options.schema });
  const issues = [...problems, ...outcome.problems]
    // Problems of other steps' inline configs or overrides are not this command's business.
    .filter((problem) => problem.step === undefined || problem.step === options.step)
    .map((problem) => scrubIssue(problem.issue, context.secrets));
  return {
    step: options.step,
    layers: outcome.layers,
    stored: outcome.stored,
    entries: configEntries(outcome),
    issues,
  };
}

/**
 * The leaves of a resolved config (scalars, arrays, empty objects) with the
 * layer that set each, in key order.
 */
export function configEntries(resolved: Pick<ResolvedStepConfig, 'stored' | 'sources'>): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (isPlainObject(value) && (Object.keys(value).length > 0 || path.length === 0)) {
      for (const key of Object.keys(value)) walk(value[key], [...path, key]);
      return;
    }
    const key = dotted(path);
    const source = resolved.sources[key] ?? { source: 'unknown' };
    entries.push({
      key,
      value,
      source: source.source,
      ...(source.line !== undefined ? { line: source.line } : {}),
    });
  };
  walk(resolved.stored, []);
  return entries;
}

async function createContext(
  options: Omit<ResolveStepConfigsOptions, 'steps'>,
  problems: Problem[],
): Promise<Context> {
  const env = options.env;
  if (typeof env !== 'string' || !ENV_NAME.test(env) || env.includes('..')) {
    throw new CairnError(
      ErrorCodes.CONFIG_INVALID,
      `Invalid environment name ${JSON.stringify(env)}: use letters, digits, ".", "_" or "-"`,
    );
  }
  const confDir = resolve(options.confDir);
  const projectDir = resolve(options.projectDir ?? dirname(confDir));

  let overrides: ConfigOverrides = {};
  if (Array.isArray(options.overrides)) {
    const parsed = collectOverrides(options.overrides);
    overrides = parsed.overrides;
    for (const issue of parsed.issues) problems.push({ kind: 'override', issue });
    for (const issue of parsed.unreadable) problems.push({ kind: 'unreadable', issue });
  } else if (options.overrides) {
    for (const [step, value] of Object.entries(options.overrides)) {
      if (isPlainObject(value)) overrides[step] = value;
      else
        problems.push({
          kind: 'override',
          step,
          issue: { source: '--set', path: [step], message: 'expected an object of keys to values' },
        });
    }
  }

  const inline: Record<string, unknown> = {};
  for (const [step, value] of Object.entries(options.inline ?? {})) {
    if (value === undefined) continue;
    if (isPlainObject(value)) inline[step] = value;
    else {
      problems.push({
        kind: 'invalid',
        step,
        issue: {
          source: 'inline',
          path: [step],
          message: `expected an object of keys to values, got ${describe(value)}`,
        },
      });
    }
  }

  const rel = (path: string) => toPosix(relative(projectDir, path));
  const [baseFiles, envFiles] = await Promise.all([
    listConfigFiles(join(confDir, 'base'), rel, problems),
    env === 'base' ? new Map<string, string[]>() : listConfigFiles(join(confDir, env), rel, problems),
  ]);
  const folders = new Map<string, { path: string; rel: string }>();
  const confFolder = (folder: string) => {
    let found = folders.get(folder);
    if (found === undefined) {
      const path = join(confDir, folder);
      found = { path, rel: rel(path) };
      folders.set(folder, found);
    }
    return found;
  };
  return {
    confDir,
    confFolder,
    projectDir,
    env,
    baseFiles,
    envFiles,
    overrides,
    inline,
    environment: options.environment ?? process.env,
    deferUnsetEnv: options.deferUnsetEnv === true,
    secrets: new Map(),
  };
}

/** One directory listing instead of a stat per step and extension: a 1,000-step pipeline stays fast. */
async function listConfigFiles(
  dir: string,
  rel: (path: string) => string,
  problems: Problem[],
): Promise<Map<string, string[]>> {
  const files = new Map<string, string[]>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      problems.push({
        kind: 'unreadable',
        issue: { source: rel(dir), message: `cannot list the folder: ${(cause as Error).message}` },
      });
    }
    return files;
  }
  for (const name of names.sort()) {
    const ext = EXTENSIONS.find((candidate) => name.endsWith(candidate));
    if (!ext) continue;
    const step = name.slice(0, -ext.length);
    files.set(step, [...(files.get(step) ?? []), name]);
  }
  return files;
}

/** Synchronous unless the step's schema validates asynchronously. */
function resolveOne(context: Context, step: StepConfigRequest): StepOutcome | Promise<StepOutcome> {
  const problems: Problem[] = [];
  const { layers, unreadable } = readLayers(context, step, problems);

  let stored: ConfigObject = {};
  for (const layer of layers) stored = deepMerge(stored, layer.value) as ConfigObject;
  const sources = sourcesOf(stored, layers);
  const issueAt = issueLocator(context, step.name, sources, layers);

  const envProblems: EnvProblem[] = [];
  const secrets = new Map<string, string>();
  const substituted = substituteEnvRefs(stored, context.environment, envProblems, secrets);
  for (const [secret, name] of secrets) context.secrets.set(secret, name);
  for (const problem of envProblems) {
    // Deferred: its key is still left out of the schema's judgement below (`blocked`).
    if (problem.kind === 'missing' && context.deferUnsetEnv) continue;
    problems.push({
      kind: problem.kind === 'missing' ? 'env' : 'invalid',
      step: step.name,
      issue: issueAt(problem.path, describeEnvProblem(problem)),
    });
  }

  const outcome = (value: unknown): StepOutcome => {
    if (secrets.size > 0) {
      recordParsedSecrets(stored, substituted, value, secrets);
      for (const [secret, name] of secrets) context.secrets.set(secret, name);
    }
    return { stored, sources, value, secrets, layers: layers.map((layer) => layer.source), problems };
  };
  if (!step.schema || unreadable) return outcome(substituted);
  const blocked = envProblems.map((problem) => problem.path);
  const value = validateStepConfig(step.name, step.schema, substituted, blocked, issueAt, problems);
  return isPromise(value) ? value.then(outcome) : outcome(value);
}

/**
 * A step's layers, lowest first: its base file (or its inline config), its environment's file,
 * then its `--set` overrides. A file that cannot be read or parsed adds a problem and sets
 * `unreadable`, so the schema is not asked about a config we know is incomplete.
 */
function readLayers(
  context: Context,
  step: StepConfigRequest,
  problems: Problem[],
): { layers: Layer[]; unreadable: boolean } {
  const layers: Layer[] = [];
  let unreadable = false;
  const readLayer = (folder: string, names: string[] | undefined) => {
    if (!names || names.length === 0) return;
    if (names.length > 1) {
      problems.push({
        kind: 'invalid',
        step: step.name,
        issue: {
          source: toPosix(relative(context.projectDir, join(context.confDir, folder))),
          message: `several config files for step "${step.name}" (${names.join(', ')}): keep one`,
        },
      });
      unreadable = true;
      return;
    }
    // No path.join or path.relative per file (each normalizes its whole result): the folder's paths
    // are computed once, and a name from its listing is one segment.
    const { path: folderPath, rel: folderRel } = context.confFolder(folder);
    const file = `${folderPath}${sep}${names[0]!}`;
    const source = folderRel ? `${folderRel}/${names[0]!}` : names[0]!;
    let text: string;
    try {
      // Synchronous: a config file is small, and 1,000 of them cost 0.3–0.6 s as thread-pool round
      // trips (open, fstat, read, close each) against tens of milliseconds read in place.
      text = readFileSync(file, UTF8);
    } catch (cause) {
      problems.push({
        kind: 'unreadable',
        step: step.name,
        issue: { source, message: `cannot read the file: ${(cause as Error).message}` },
      });
      unreadable = true;
      return;
    }
    const parsed = parseLayerFile(text, source);
    if ('problems' in parsed) {
      for (const problem of parsed.problems) problems.push(layerProblem(step.name, source, problem));
      unreadable = true;
      return;
    }
    layers.push(parsed.layer);
  };

  const inline = context.inline[step.name];
  if (inline !== undefined) layers.push(dataLayer('inline', cloneData(inline as ConfigObject)));
  else readLayer('base', context.baseFiles.get(step.name));
  if (context.env !== 'base') readLayer(context.env, context.envFiles.get(step.name));
  const override = context.overrides[step.name];
  if (override !== undefined) layers.push(dataLayer('--set', cloneData(override)));
  return { layers, unreadable };
}

type IssueAt = (path: string[], message: string) => ErrorIssue;

/**
 * Where to point for a problem at a config key: the file and line of the layer that set the
 * deepest part of the key, `--set`/`inline` with the step's name, or else the step's own file.
 */
function issueLocator(
  context: Context,
  stepName: string,
  sources: ReturnType<typeof sourcesOf>,
  layers: Layer[],
): IssueAt {
  const home = homeSource(context, stepName, layers);
  return (path, message) => {
    for (let length = path.length; length > 0; length--) {
      const found = sources[dotted(path.slice(0, length))];
      if (!found) continue;
      if (found.source === '--set' || found.source === 'inline')
        return { source: found.source, path: [stepName, ...path], message };
      return {
        source: found.line !== undefined ? `${found.source}:${found.line}` : found.source,
        path,
        message,
      };
    }
    if (home.file) return { source: home.source, path, message };
    return { source: home.source, path: [stepName, ...path], message };
  };
}

/**
 * Check a step's merged config against its schema. Returns the schema's value (defaults filled
 * in) and adds a problem per issue, each unknown key (a typo) on its own line; keys under an
 * unset variable (`blocked`) are already reported. A promise only when the schema's answer is
 * one: a run of 1,000 steps with synchronous schemas makes no promise per step.
 */
function validateStepConfig(
  stepName: string,
  schema: StandardSchemaV1,
  substituted: unknown,
  blocked: string[][],
  issueAt: IssueAt,
  problems: Problem[],
): unknown {
  const threw = (cause: unknown) => {
    problems.push({
      kind: 'invalid',
      step: stepName,
      issue: issueAt([], `the config schema threw: ${(cause as Error)?.message ?? String(cause)}`),
    });
    return substituted;
  };
  const judge = (result: StandardSchemaV1.Result<unknown>): unknown => {
    try {
      return judgeValidation(stepName, schema, substituted, result, blocked, issueAt, problems);
    } catch (cause) {
      return threw(cause);
    }
  };
  let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
  try {
    result = validate(schema, substituted);
  } catch (cause) {
    return threw(cause);
  }
  return isPromise(result) ? Promise.resolve(result).then(judge, threw) : judge(result);
}

/** What a schema's answer means for a step's config: its value, or the problems it found. */
function judgeValidation(
  stepName: string,
  schema: StandardSchemaV1,
  substituted: unknown,
  result: StandardSchemaV1.Result<unknown>,
  blocked: string[][],
  issueAt: IssueAt,
  problems: Problem[],
): unknown {
  const unknownKey = (unknown: { path: string[]; known: readonly string[] | undefined }): Problem => ({
    kind: 'invalid',
    step: stepName,
    issue: issueAt(unknown.path, describeUnknownKey(unknown.path.at(-1)!, unknown.known)),
  });
  if (!result.issues) {
    // Plain z.object strips unknown keys silently; a typo must not fall back to a default unnoticed.
    for (const unknown of findUnknownKeys(schema, substituted, result.value))
      problems.push(unknownKey(unknown));
    return result.value;
  }
  const reported = new Set<string>();
  for (const schemaIssue of result.issues) {
    const path = (schemaIssue.path ?? []).map((segment) =>
      String(typeof segment === 'object' && segment !== null ? segment.key : segment),
    );
    // An unset variable is already reported at this key; the schema's complaint about it is noise.
    if (blocked.some((prefix) => prefix.every((part, i) => path[i] === part))) continue;
    // zod reports unknown keys (a typo such as `tress:`) at the parent; point at each key's own line instead.
    const keys = (schemaIssue as { keys?: unknown }).keys;
    if (Array.isArray(keys) && keys.length > 0 && keys.every((key) => typeof key === 'string')) {
      for (const key of keys as string[]) {
        reported.add(dotted([...path, key]));
        problems.push(unknownKey({ path: [...path, key], known: knownKeysAt(schema, path) }));
      }
      continue;
    }
    problems.push({ kind: 'invalid', step: stepName, issue: issueAt(path, schemaIssue.message) });
  }
  // A typo usually also leaves a required key missing: name the typo too, it is the fix.
  for (const unknown of findUnknownKeys(schema, substituted, undefined)) {
    if (!reported.has(dotted(unknown.path))) problems.push(unknownKey(unknown));
  }
  return substituted;
}

const isPromise = <T>(value: unknown): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

function validate(schema: StandardSchemaV1, value: unknown) {
  const standard = (schema as Partial<StandardSchemaV1>)['~standard'];
  if (typeof standard?.validate !== 'function') {
    throw new Error('not a Standard Schema validator (no ~standard.validate)');
  }
  return standard.validate(value);
}

/** For every key path of the merged config: the last layer that sets it (later layers win). */
function sourcesOf(stored: ConfigObject, layers: Layer[]): Record<string, ConfigSource> {
  const sources: Record<string, ConfigSource> = {};
  for (const path of listPaths(stored)) {
    const key = dotted(path);
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!;
      if (!layer.lines.has(key)) continue;
      const line = layer.lines.get(key);
      sources[key] = line === undefined ? { source: layer.source } : { source: layer.source, line };
      break;
    }
  }
  return sources;
}

/** Where a problem with no key of its own (a required key that is missing) is reported. */
function homeSource(context: Context, step: string, layers: Layer[]): { source: string; file: boolean } {
  const first = layers.find((layer) => layer.file) ?? layers.find((layer) => layer.source === 'inline');
  if (first) return { source: first.source, file: first.file };
  const expected = toPosix(relative(context.projectDir, join(context.confDir, 'base', `${step}.yaml`)));
  return { source: `${expected} (not found)`, file: true };
}

function layerProblem(step: string, source: string, problem: LayerProblem): Problem {
  return {
    kind: problem.kind,
    step,
    issue: {
      source: problem.line !== undefined ? `${source}:${problem.line}` : source,
      ...(problem.path ? { path: problem.path } : {}),
      message: problem.message,
    },
  };
}

const HEADLINES: Record<ProblemKind, string> = {
  invalid: 'Invalid step config',
  unreadable: 'Cannot read step config',
  env: 'Step config references unset environment variables',
  override: 'Invalid --set override',
};

const CODES: Record<ProblemKind, ErrorCode> = {
  invalid: ErrorCodes.CONFIG_INVALID,
  unreadable: ErrorCodes.CONFIG_UNREADABLE,
  env: ErrorCodes.CONFIG_ENV_MISSING,
  override: ErrorCodes.CONFIG_OVERRIDE_INVALID,
};

const HINTS: Record<ProblemKind, string> = {
  invalid: 'Fix the keys listed; `cairn config <step> --env <env>` shows where each value comes from.',
  unreadable: 'A step config file is a YAML (or JSON) mapping of keys to values.',
  env: 'Set the environment variables named above (they are read, never stored).',
  override:
    'Write --set <step>.<key>[.<key>…]=<value> for a step of this pipeline, e.g. --set train.trees=200',
};

function configError(problems: Problem[], secrets: ReadonlyMap<string, string>): CairnError {
  const kinds = new Set(problems.map((problem) => problem.kind));
  const kind: ProblemKind = kinds.size === 1 ? [...kinds][0]! : 'invalid';
  const issues = problems.map((problem) => scrubIssue(problem.issue, secrets));
  const steps = [...new Set(problems.flatMap((problem) => (problem.step ? [problem.step] : [])))];
  const count = `${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}`;
  const where = steps.length > 0 ? ` in ${steps.length === 1 ? 'step' : 'steps'} ${steps.join(', ')}` : '';
  const message = scrubSecrets(
    `${HEADLINES[kind]} (${count}${where}):\n${formatIssues(issues)}`,
    secrets,
    '***',
  );
  return new CairnError(CODES[kind], message, {
    issues,
    hint: kinds.size === 1 ? HINTS[kind] : HINTS.invalid,
  });
}

function scrubIssue(issue: ErrorIssue, secrets: ReadonlyMap<string, string>): ErrorIssue {
  return { ...issue, message: scrubSecrets(issue.message, secrets, '***') };
}

function listNames(names: Set<string>): string {
  const list = [...names];
  if (list.length === 0) return 'none';
  return list.length > 12 ? `${list.slice(0, 12).join(', ')}, … (${list.length} in all)` : list.join(', ');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'a non-plain object' : `a ${typeof value}`;
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

/** `fn` over `items`, at most `limit` of its promises pending at once; a plain result costs no await. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => R | Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const result = fn(items[index]!);
      results[index] = isPromise<R>(result) ? await result : (result as R);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
