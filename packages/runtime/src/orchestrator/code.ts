/**
 * What a step's code is, for the cache: the module that defined it and every
 * file that module imports, transitively, plus the packages they import by
 * name and installed version. Editing a helper two imports away, or a
 * function beside `run`, is a change of code; editing a file no step imports
 * is not.
 *
 * Which module defined a step comes from the call stack when `step()` ran
 * (`AnyStep.modules`, recorded by the core). That is exact for steps declared
 * in a module (the common case) and for steps a package's factory makes (the
 * factory's file, then the project module that called it). Walking the
 * pipeline module's imports instead would tie every step to every other
 * step's files, and looking for the module that exports a step breaks on
 * re-exports and on steps that are never exported. A step without a
 * recorded module falls back to its pipeline's module: more re-runs, never
 * a stale result.
 *
 * The import graph comes from esbuild's metafile (bundle in memory, packages
 * external, nothing written): one build for all of a run's modules, and only
 * when a file changed. Per file, `<stateDir>/code/files.json` keeps size,
 * mtime, digest and imports, so a no-op run stats its files and reads no
 * source.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  type AnyStep,
  type AnyStepDefinition,
  CairnError,
  canonicalJson,
  ErrorCodes,
  isCommandStep,
  sha256,
} from '@cairn/core';

/** What one step's code consists of: a label per part (a project-relative file, `npm:<name>`, `(run)`…) and its digest or version. */
export type CodeParts = Record<string, string>;

export interface StepCode {
  fingerprint: string;
  parts: CodeParts;
}

interface FileRecord {
  size: number;
  mtimeMs: number;
  /**
   * The inode's change time and number: a tool that restores an mtime (an archive, rsync -t,
   * `touch -d`) cannot set ctime back, and a file replaced by a rename is another inode.
   * Absent in records written before they were kept: such a record is re-read once.
   */
  ctimeMs?: number;
  ino?: number;
  /** When the digest was taken: a file changed within the same mtime tick is re-read, not trusted. */
  checkedAt: number;
  digest: string;
  /** Absolute paths of the project files it imports. */
  imports: string[];
  /** Package names it imports (bare specifiers, builtins left out). */
  packages: string[];
}

interface FileStore {
  version: 1;
  files: Record<string, FileRecord>;
}

// A file whose mtime is this close to when it was hashed may change again within the same tick.
const RACY_MS = 2000;
const CODE = /\.(?:[cm]?[jt]sx?)$/;
const BUILTINS = new Set(builtinModules);

/**
 * The code of each step, by step. Steps that share a definition share the
 * answer; all their modules go through one graph build.
 */
export async function fingerprintSteps(
  steps: readonly { step: AnyStep; pipelineModule?: string | undefined }[],
  projectDir: string,
  stateDir: string,
): Promise<Map<AnyStep, StepCode>> {
  const entries = new Map<AnyStep, { files: string[]; scripts: string[] }>();
  for (const { step, pipelineModule } of steps) {
    if (!entries.has(step)) entries.set(step, await entryFiles(step, pipelineModule, projectDir));
  }
  const graphFiles = new Set<string>();
  for (const { files } of entries.values())
    for (const file of files) if (!inPackage(file)) graphFiles.add(file);
  const graph = await moduleGraph([...graphFiles], stateDir);
  const versions = new PackageVersions();
  const result = new Map<AnyStep, StepCode>();
  for (const [step, { files, scripts }] of entries) {
    const parts: CodeParts = {};
    const definition = step.definition as AnyStepDefinition;
    if (isCommandStep(definition)) parts['(command)'] = sha256(definition.command);
    else parts['(run)'] = sha256(definition.run.toString());
    if (definition.version !== undefined) parts['(version)'] = String(definition.version);
    parts['(outputs)'] = Object.entries(definition.outputs)
      .map(([name, type]) => `${name}=${type.name}`)
      .join(',');
    const seen = new Set<string>();
    // Every installed package the step's code loads, by name → versions: those its files import and,
    // transitively, what those depend on (an `npm update` of a dependency's dependency changes
    // what the step computes as surely as an edit does).
    const packages = new Map<string, Set<string>>();
    const installed = (manifest: string) => {
      for (const [name, version] of versions.closure(manifest)) {
        const known = packages.get(name) ?? new Set<string>();
        known.add(version);
        packages.set(name, known);
      }
    };
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      if (inPackage(file)) {
        const manifest = versions.owningManifest(file);
        if (manifest) installed(manifest);
        return;
      }
      const record = graph.get(file);
      parts[label(file, projectDir)] = record?.digest ?? sha256(await readFile(file));
      for (const name of record?.packages ?? []) {
        const manifest = versions.locate(dirname(file), name);
        if (manifest) installed(manifest);
        else if (!packages.has(name)) packages.set(name, new Set(['not installed']));
      }
      for (const imported of record?.imports ?? []) await visit(imported);
    };
    for (const file of files) await visit(file);
    for (const [name, known] of packages) parts[`npm:${name}`] = [...known].sort().join(', ');
    for (const file of scripts) parts[label(file, projectDir)] = sha256(await readFile(file));
    result.set(step, { fingerprint: sha256(canonicalJson(parts)), parts });
  }
  return result;
}

/** The files a step's fingerprint starts from, and the files read whole (`sources`, scripts a command names). */
async function entryFiles(
  step: AnyStep,
  pipelineModule: string | undefined,
  projectDir: string,
): Promise<{ files: string[]; scripts: string[] }> {
  const definition = step.definition as AnyStepDefinition;
  const files: string[] = [];
  const scripts: string[] = [];
  if (isCommandStep(definition)) {
    for (const file of commandScripts(definition.command, projectDir)) {
      (CODE.test(file) ? files : scripts).push(file);
    }
  } else {
    const modules = (step.modules ?? []).filter((file) => existsSync(file));
    const defining = modules[0] ?? pipelineModule;
    if (defining) files.push(defining);
    // A factory made this step (a package's, or one of the project's own): the project modules
    // that called it hold its options. The stack has only the calls that made the step: importers
    // of an ES module are not on it (callerModules leaves out async frames).
    for (const file of modules) if (file !== defining && inProject(file, projectDir)) files.push(file);
  }
  for (const source of definition.sources ?? []) {
    const path = resolve(projectDir, source);
    try {
      if ((await stat(path)).isFile()) scripts.push(path);
      else throw new Error('not a file');
    } catch (cause) {
      throw new CairnError(
        ErrorCodes.STEP_INVALID,
        `Step "${definition.name}" lists source "${source}", which cannot be read (${path})`,
        { cause },
      );
    }
  }
  return { files, scripts };
}

/** Files inside the project that a command names (`python train.py`, `--model=scripts/fit.R`). */
function commandScripts(command: string, projectDir: string): string[] {
  const found: string[] = [];
  for (const word of command.split(/\s+/)) {
    const token = word.replace(/^[^=]*=/, '').replace(/^['"]|['"]$/g, '');
    if (!token || token.includes('{') || token.startsWith('-')) continue;
    const path = resolve(projectDir, token);
    if (!inProject(path, projectDir) || found.includes(path)) continue;
    try {
      if (statSync(path).isFile()) found.push(path);
    } catch {}
  }
  return found;
}

const inPackage = (file: string): boolean => file.includes(`${sep}node_modules${sep}`);
const inProject = (file: string, projectDir: string): boolean =>
  !inPackage(file) && !relative(projectDir, file).startsWith('..') && !isAbsolute(relative(projectDir, file));
const label = (file: string, projectDir: string): string => relative(projectDir, file).split(sep).join('/');

/**
 * Digest and imports of every file reachable from `entries`. The stored
 * records are trusted while size and mtime match; a file that was touched
 * but hashes the same keeps its imports; any other change rebuilds the
 * graph with esbuild.
 */
async function moduleGraph(entries: string[], stateDir: string): Promise<Map<string, FileRecord>> {
  const storeFile = join(stateDir, 'code', 'files.json');
  const store = await readStore(storeFile);
  const graph = new Map<string, FileRecord>();
  let changed = false;
  let stale = false;
  const pending = [...entries];
  while (pending.length > 0 && !stale) {
    const file = pending.pop()!;
    if (graph.has(file)) continue;
    const record = store.files[file];
    if (!record) {
      stale = true;
      break;
    }
    const current = await fresh(file, record);
    if (current === undefined) {
      stale = true;
      break;
    }
    if (current !== record) changed = true;
    graph.set(file, current);
    pending.push(...current.imports);
  }
  if (stale) {
    graph.clear();
    for (const [file, record] of await buildGraph(entries, store)) graph.set(file, record);
    changed = true;
  }
  if (changed) {
    for (const [file, record] of graph) store.files[file] = record;
    // A cache, also kept by `cairn plan` (so that it stays fast before any run): a state
    // folder that refuses the write costs the next process a rebuild, nothing else.
    await writeAtomic(storeFile, JSON.stringify(store)).catch(() => {});
  }
  return graph;
}

/** The record still describes the file (the same object), an updated one with the same digest, or undefined when it changed. */
async function fresh(file: string, record: FileRecord): Promise<FileRecord | undefined> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch {
    return undefined;
  }
  const racy = Math.max(record.mtimeMs, record.ctimeMs ?? 0) >= record.checkedAt - RACY_MS;
  const same =
    info.size === record.size &&
    info.mtimeMs === record.mtimeMs &&
    info.ctimeMs === record.ctimeMs &&
    info.ino === record.ino;
  if (same && !racy) return record;
  const checkedAt = Date.now();
  const digest = sha256(await readFile(file));
  if (digest !== record.digest) return undefined;
  return {
    ...record,
    size: info.size,
    mtimeMs: info.mtimeMs,
    ctimeMs: info.ctimeMs,
    ino: info.ino,
    checkedAt,
  };
}

async function readStore(file: string): Promise<FileStore> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as FileStore;
    if (parsed?.version === 1 && parsed.files && typeof parsed.files === 'object') return parsed;
  } catch {}
  return { version: 1, files: {} };
}

/** One esbuild pass over every entry (in memory, packages external): who imports what. */
async function buildGraph(entries: string[], store: FileStore): Promise<Map<string, FileRecord>> {
  const graph = new Map<string, FileRecord>();
  if (entries.length === 0) return graph;
  const esbuild = await import('esbuild');
  let inputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
  try {
    const result = await esbuild.build({
      entryPoints: entries,
      absWorkingDir: '/',
      outdir: '/',
      bundle: true,
      write: false,
      metafile: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
      plugins: [anyFileLoads],
    });
    inputs = result.metafile.inputs;
  } catch {
    // The modules loaded before this (they defined the steps), so a file esbuild cannot follow
    // is a limit of the graph, not of the project: count the entries themselves.
    inputs = Object.fromEntries(entries.map((file) => [file, { imports: [] }]));
  }
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve('/', path));
  for (const [path, input] of Object.entries(inputs)) {
    const file = absolute(path);
    const checkedAt = Date.now();
    const [info, bytes] = await Promise.all([stat(file), readFile(file)]);
    const imports: string[] = [];
    const packages: string[] = [];
    for (const imported of input.imports) {
      if (!imported.external) imports.push(absolute(imported.path));
      else {
        const name = packageName(imported.path);
        if (name && !packages.includes(name)) packages.push(name);
      }
    }
    const digest = sha256(bytes);
    const previous = store.files[file];
    graph.set(file, {
      size: info.size,
      mtimeMs: info.mtimeMs,
      ctimeMs: info.ctimeMs,
      ino: info.ino,
      checkedAt: previous?.digest === digest ? Math.min(previous.checkedAt, checkedAt) : checkedAt,
      digest,
      imports,
      packages,
    });
  }
  return graph;
}

/** Files that are not code (a `.txt`, a `.wasm`) are still part of the graph: their bytes are hashed, their content is not parsed. */
const anyFileLoads = {
  name: 'cairn-any-file',
  setup(build: { onLoad(options: { filter: RegExp }, callback: (args: { path: string }) => unknown): void }) {
    build.onLoad({ filter: /.*/ }, ({ path }) =>
      CODE.test(path) || extname(path) === '.json' ? undefined : { contents: '', loader: 'empty' },
    );
  },
};

/** `zod`, `@scope/pkg/sub` → `@scope/pkg`; undefined for builtins and anything not a package. */
function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || BUILTINS.has(specifier.split('/')[0]!)) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return /^(?:@[^/]+\/)?[^./][^/]*$/.test(name) ? name : undefined;
}

/** Installed package versions, looked up once per run from the nearest `node_modules`, as Node resolves them. */
class PackageVersions {
  private readonly byPath = new Map<string, PackageManifest | undefined>();
  private readonly closures = new Map<string, Array<[string, string]>>();

  /** The `package.json` of the package `name` as `from` would import it (Node's node_modules walk). */
  locate(from: string, name: string): string | undefined {
    for (let dir = from; ; dir = dirname(dir)) {
      const manifest = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(manifest)) return manifest;
      if (dirname(dir) === dir) return undefined;
    }
  }

  /** The `package.json` of the package a file inside `node_modules` belongs to. */
  owningManifest(file: string): string | undefined {
    const at = file.lastIndexOf(`${sep}node_modules${sep}`);
    const rest = file.slice(at + `${sep}node_modules${sep}`.length).split(sep);
    const name = rest[0]?.startsWith('@') ? rest.slice(0, 2).join('/') : rest[0];
    return name ? join(file.slice(0, at), 'node_modules', name, 'package.json') : undefined;
  }

  /**
   * The package of `manifest` and everything it depends on (`dependencies` and
   * `optionalDependencies`, each resolved from the depending package's folder, as Node does),
   * as [name, installed version] pairs; worked out once per package folder in a run (one PackageVersions per fingerprintSteps call).
   * Read synchronously: a tree of hundreds of small manifests (a test runner's, a toolkit's)
   * cost a promise or more per file per run on the thread pool, for microseconds of reading.
   */
  closure(manifest: string): Array<[string, string]> {
    let pairs = this.closures.get(manifest);
    if (pairs) return pairs;
    pairs = [];
    const walked = new Set<string>();
    const queue = [manifest];
    while (queue.length > 0) {
      const next = queue.pop()!;
      if (walked.has(next)) continue;
      walked.add(next);
      const found = this.read(next);
      if (!found) continue;
      pairs.push([found.name, found.version]);
      for (const dependency of found.dependencies) {
        const located = this.locate(dirname(next), dependency);
        if (located) queue.push(located);
      }
    }
    this.closures.set(manifest, pairs);
    return pairs;
  }

  private read(manifest: string): PackageManifest | undefined {
    if (this.byPath.has(manifest)) return this.byPath.get(manifest);
    let found: PackageManifest | undefined;
    try {
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name?: string;
        version?: string;
        dependencies?: Record<string, string>;
        optionalDependencies?: Record<string, string>;
      };
      const dependencies = [
        ...new Set([
          ...Object.keys(json.dependencies ?? {}),
          ...Object.keys(json.optionalDependencies ?? {}),
        ]),
      ];
      found = { name: String(json.name), version: String(json.version ?? ''), dependencies };
    } catch {
      found = undefined;
    }
    this.byPath.set(manifest, found);
    return found;
  }
}

interface PackageManifest {
  name: string;
  version: string;
  /** Names of its dependencies and optional dependencies. */
  dependencies: string[];
}

/** Write a file whole or not at all: a reader never sees half of it. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

// By the step's own name (not the node's): one file per version of a definition, however many
// nodes use it, so that a cold 1,000-node run of two definitions writes two.
function manifestDir(stateDir: string, definitionName: string): string {
  return join(stateDir, 'code', 'steps', definitionName);
}

/** Manifests this process wrote or saw: checked once, not once per node. */
const remembered = new Set<string>();

/**
 * Keep what a fingerprint consisted of, so that when the step runs again a
 * later run can name the files that changed. Written once per fingerprint
 * (content-addressed), when the step executes.
 */
export function rememberCode(
  stateDir: string,
  definitionName: string,
  code: StepCode,
): Promise<void> | undefined {
  const file = join(manifestDir(stateDir, definitionName), `${code.fingerprint}.json`);
  // Known already (every execution of a step after its first): no promise.
  if (remembered.has(file)) return undefined;
  remembered.add(file);
  return existsSync(file) ? undefined : writeAtomic(file, JSON.stringify(code.parts));
}

/**
 * The parts of the code of a step's previous execution: the remembered
 * fingerprint for which `keyOf` gives back the execution's cache key.
 */
export async function rememberedCode(
  stateDir: string,
  definitionName: string,
  keyOf: (fingerprint: string) => string,
  cacheKey: string,
): Promise<CodeParts | undefined> {
  let names: string[];
  try {
    names = await readdir(manifestDir(stateDir, definitionName));
  } catch {
    return undefined;
  }
  for (const name of names) {
    const fingerprint = name.replace(/\.json$/, '');
    if (!/^[0-9a-f]{64}$/.test(fingerprint) || keyOf(fingerprint) !== cacheKey) continue;
    try {
      return JSON.parse(
        await readFile(join(manifestDir(stateDir, definitionName), name), 'utf8'),
      ) as CodeParts;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const PART_NAMES: Record<string, string> = {
  '(run)': 'run()',
  '(command)': 'command',
  '(version)': 'version',
  '(outputs)': 'outputs',
};

/** What differs between two codes, for a reason: `src/classifier.ts`, `zod@4.1.0`, `a.ts, b.ts, c.ts (+2 more)`. */
export function codeChange(before: CodeParts, after: CodeParts, shown = 3): string | undefined {
  const changed: string[] = [];
  const special: string[] = [];
  for (const key of [...new Set([...Object.keys(after), ...Object.keys(before)])].sort()) {
    if (before[key] === after[key]) continue;
    if (key.startsWith('(')) special.push(PART_NAMES[key] ?? key);
    else if (key.startsWith('npm:')) changed.push(`${key.slice(4)}@${after[key] ?? 'removed'}`);
    else changed.push(after[key] === undefined ? `${key} (no longer imported)` : key);
  }
  // A file names the change better than run() (whose text changes with it).
  const all = changed.length > 0 ? changed : special;
  if (all.length === 0) return undefined;
  const more = all.length > shown ? ` (+${all.length - shown} more)` : '';
  return `${all.slice(0, shown).join(', ')}${more}`;
}
