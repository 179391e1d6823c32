// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/**
 * What the export commands share: opening a project without connecting to
 * its stack (an export reads config and code, never a database or a
 * bucket), the environment variables a stack and its step configs refer to,
 * Kubernetes names and quantities, and writing YAML atomically.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { CairnConfig, Pipeline, Stack } from '@cairn/core';
import type { envRefNames } from '@cairn/runtime';
import { usageError } from '../errors';
import { requireProjectDir } from '../project';

/** A project as an export sees it: its config and one environment's plugins, none of them opened. */
export interface ExportProject {
  projectDir: string;
  env: string;
  config: CairnConfig;
  stack: Stack;
  pipelinesDir: string;
  confDir: string;
  /**
   * The runtime's `${env:}` parser, loaded with the project: the runtime is
   * imported only when a command runs, so that `cairn --help` never loads it.
   */
  envRefNames: typeof envRefNames;
}

/**
 * Load `cairn.config.ts` and pick the environment's stack, as `cairn run`
 * does, but open nothing: its `${env:…}` references stay references.
 * @throws CAIRN_STACK_INVALID for an environment the config does not define
 */
export async function loadExportProject(
  projectFlag: string | undefined,
  env: string,
): Promise<ExportProject> {
  const core = await import('@cairn/core');
  const { loadProjectConfig, envRefNames } = await import('@cairn/runtime');
  const projectDir = await requireProjectDir(projectFlag);
  const { config } = await loadProjectConfig(projectDir);
  let stack: Stack;
  try {
    stack = core.stackFor(config, env);
  } catch (error) {
    if ((error as { code?: string }).code !== 'CAIRN_STACK_INVALID') throw error;
    throw new core.CairnError(core.ErrorCodes.STACK_INVALID, (error as Error).message, {
      hint: 'Name an environment of cairn.config.ts with --env; `cairn add storage-s3` and `cairn add metadata-postgres` create a shared `team` one.',
    });
  }
  return {
    projectDir,
    env,
    config,
    stack,
    pipelinesDir: resolve(projectDir, config.pipelines ?? 'pipelines'),
    confDir: resolve(projectDir, config.conf ?? 'conf'),
    envRefNames,
  };
}

/**
 * Why an environment cannot be shared by steps running in separate pods or
 * jobs: each would have its own artifact folder and metadata file.
 */
export function unsharedStackWarnings(project: ExportProject): string[] {
  const warnings: string[] = [];
  const { storage, metadata } = project.stack;
  if (storage?.capabilities?.shared !== true) {
    warnings.push(
      `The storage of env ${project.env} (${storage?.name ?? 'the embedded local folder'}) is not shared: steps on other machines will not see each other's artifacts. Use an environment with S3 storage (cairn add storage-s3).`,
    );
  }
  if (!metadata || metadata.name === 'sqlite' || metadata.name === 'memory') {
    warnings.push(
      `The metadata store of env ${project.env} (${metadata?.name ?? 'the embedded SQLite file'}) is not shared: steps on other machines will not see the run. Use an environment with PostgreSQL metadata (cairn add metadata-postgres).`,
    );
  }
  return warnings;
}

/** The pipeline named (or the project's default), loaded as `cairn plan` and `cairn run` load it. */
export async function loadExportPipeline(
  project: ExportProject,
  name: string | undefined,
): Promise<Pipeline> {
  const { loadPipelines, selectPipeline } = await import('@cairn/runtime');
  const pipelines = await loadPipelines(project.pipelinesDir, project.projectDir);
  return selectPipeline(pipelines, name ?? project.config.defaultPipeline, project.pipelinesDir);
}

/**
 * Add to `into` every variable named by a `${env:NAME}` reference in the
 * strings of `value` (objects, arrays and plugin objects walked; functions
 * skipped). `$${env:NAME}` is a literal, not a reference. The runtime's
 * parser decides, so the export and a run agree on what is a reference.
 */
export function collectEnvRefs(project: ExportProject, value: unknown, into: Set<string>): Set<string> {
  for (const name of project.envRefNames(value).names) into.add(name);
  return into;
}

/**
 * The variables an environment's plugins read. Plugins keep the options
 * they were given (a descriptor's `options`, a store's `ref.options`) with
 * their references unresolved, which is what a worker re-creates them from.
 */
export function stackEnvRefs(project: ExportProject): Set<string> {
  const names = new Set<string>();
  for (const plugin of Object.values(project.stack)) collectEnvRefs(project, plugin, names);
  return names;
}

/** The `env` entries of a container: every variable from a key of the same name in one Secret. */
export function secretEnv(names: Iterable<string>, secret: string) {
  return [...names].sort().map((name) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key: name } },
  }));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * `base` cut to `max` characters with a short hash of `name` at its end, so
 * that two long names sharing a beginning stay distinct; `fallback` when
 * nothing of `base` is left.
 */
export function withHash(
  base: string,
  name: string,
  max: number,
  separator: string,
  fallback: string,
): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  const head = base.slice(0, max - hash.length - separator.length).replace(/[-_]+$/, '');
  return `${head || fallback}${separator}${hash}`;
}

/**
 * A Kubernetes object or Argo task name (a DNS label, at most 63 characters)
 * for a step, pipeline or endpoint name: lowercase, `_` and `.` as `-`. A name
 * longer than that is cut and ends with a short hash of the full name; one
 * with no letter or digit becomes `cairn-<hash>`. `room` keeps that many
 * characters free for a suffix (`-canary`).
 */
export function k8sName(name: string, room = 0): string {
  const max = 63 - room;
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (base.length > 0 && base.length <= max) return base;
  return withHash(base, name, max, '-', 'cairn');
}

/**
 * Check a name given on the command line (a Secret, a namespace) is a DNS
 * label, as Kubernetes requires.
 * @throws CAIRN_USAGE naming the flag
 */
export function requireDnsLabel(flag: string, value: string): string {
  if (value.length > 63 || !DNS_LABEL.test(value)) {
    throw usageError(
      `--${flag} "${value}" is not a Kubernetes name: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters`,
    );
  }
  return value;
}

/** One step's resource requests, from `--resources step=cpu:memory`. */
export interface ResourceRequest {
  cpu: string;
  memory: string;
}

const CPU = /^(\d+(\.\d+)?|\d+m)$/;
const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/**
 * Parse `--resources train=2:4Gi` flags (`*` for every step without its own).
 * Steps declare no resource hint, so this lives in the export's flags rather
 * than in the step or in cairn.config.ts.
 * @throws CAIRN_USAGE for a malformed pair, a bad quantity, an unknown step, or a step given twice
 */
export function parseResources(
  pairs: readonly string[],
  steps: readonly string[],
): Map<string, ResourceRequest> {
  const out = new Map<string, ResourceRequest>();
  for (const pair of pairs) {
    const match = /^([^=]+)=([^:]+):(.+)$/.exec(pair.trim());
    if (!match) {
      throw usageError(
        `--resources "${pair}": expected <step>=<cpu>:<memory>, e.g. train=2:4Gi or *=500m:1Gi`,
      );
    }
    const [, step, cpu, memory] = match as unknown as [string, string, string, string];
    if (step !== '*' && !steps.includes(step)) {
      throw usageError(`--resources "${pair}": the pipeline has no step "${step}"`, {
        hint: `Steps: ${steps.join(', ')} (or * for all of them)`,
      });
    }
    if (!CPU.test(cpu)) {
      throw usageError(
        `--resources "${pair}": cpu "${cpu}" is not a Kubernetes CPU quantity (e.g. 1, 0.5 or 500m)`,
      );
    }
    if (!MEMORY.test(memory)) {
      throw usageError(
        `--resources "${pair}": memory "${memory}" is not a Kubernetes memory quantity (e.g. 512Mi or 4Gi)`,
      );
    }
    if (out.has(step)) throw usageError(`--resources: step "${step}" is given twice`);
    out.set(step, { cpu, memory });
  }
  return out;
}

/** YAML documents separated by `---`, keys in the order they were built. */
export async function toYaml(documents: readonly unknown[]): Promise<string> {
  const { stringify } = await import('yaml');
  return documents.map((doc) => stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/**
 * Write `text` to `out` atomically (a temporary file in the same folder,
 * then a rename), or to stdout without `--out` (`flag` names the option in errors). A failed write leaves the
 * previous file as it was. Missing folders on the way are made (and removed
 * again if the write fails); a file replaced keeps its mode; a symbolic link
 * is written through, to the file it points to.
 * @throws CAIRN_USAGE when `out` names a folder, cannot be written, or is a config file of the project
 */
export async function writeOutput(text: string, out: string | undefined, flag = '--out'): Promise<void> {
  if (out === undefined) {
    process.stdout.write(text);
    return;
  }
  const target = await checkOutputPath(out, flag);
  const folder = dirname(target);
  // A temporary name of its own length: a file name near the system's limit must still fit.
  const temp = join(folder, `.cairn-${randomBytes(6).toString('hex')}.tmp`);
  let made: string | undefined;
  try {
    made = await makeFolders(folder);
    const existing = await stat(target).catch(() => undefined);
    await writeFile(temp, text, { flag: 'wx' });
    if (existing?.isFile()) await chmod(temp, existing.mode & 0o7777);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    if (made !== undefined) await rm(made, { recursive: true, force: true }).catch(() => {});
    throw cannotWrite(flag, out, error);
  }
}

/**
 * Make `folder` and the missing folders above it, one mkdir each (none left behind if one
 * fails); the first one made, or `undefined` when it existed. Not `mkdir({ recursive: true })`: on a pseudo file system (a path
 * under /proc) it retried forever when the kernel answered ENOENT under an existing parent.
 */
async function makeFolders(folder: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = folder; ; at = dirname(at)) {
    const found = await stat(at).then(
      (entry) => entry,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (found) break;
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  try {
    for (const path of missing) await mkdir(path);
  } catch (error) {
    if (missing[0] !== undefined) await rm(missing[0], { recursive: true, force: true }).catch(() => {});
    throw error;
  }
  return missing[0];
}

/** Where `--out` writes: the path itself, or the file a symbolic link there points to. */
/**
 * What {@link writeOutput} refuses before it writes anything — a folder's name (a trailing slash,
 * or a folder that exists), a Cairn config file — checked on its own by a command that works a
 * long time before it writes (`cairn loadtest --report`). Returns the file that would be written.
 */
export async function checkOutputPath(out: string, flag = '--out'): Promise<string> {
  if (/[\\/]$/.test(out)) {
    throw usageError(`${flag} ${out}: names a folder (it ends with a slash)`, { hint: 'Name a file.' });
  }
  const target = await outputTarget(out, flag);
  const { PROJECT_CONFIG_FILES } = await import('@cairn/runtime');
  for (const name of new Set([basename(resolve(out)), basename(target)])) {
    if ((PROJECT_CONFIG_FILES as readonly string[]).includes(name)) {
      throw usageError(`${flag} ${out}: refusing to overwrite a Cairn config file`);
    }
  }
  if ((await stat(target).catch(() => undefined))?.isDirectory()) {
    throw usageError(`${flag} ${out}: names a folder`, { hint: 'Name a file.' });
  }
  return target;
}

async function outputTarget(out: string, flag: string): Promise<string> {
  const path = resolve(out);
  const link = await lstat(path).then(
    (found) => found.isSymbolicLink(),
    () => false,
  );
  if (!link) return path;
  try {
    return await realpath(path);
  } catch (error) {
    throw cannotWrite(flag, out, error);
  }
}

const UNWRITABLE = new Set([
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EACCES',
  'EPERM',
  'EEXIST',
  'ENAMETOOLONG',
  'ELOOP',
  'EROFS',
]);

function cannotWrite(flag: string, out: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined || !UNWRITABLE.has(code)) return error;
  return usageError(`${flag} ${out}: cannot write there (${code})`, {
    hint: 'Name a file, in a folder you can write to, with a name the file system takes.',
  });
}
