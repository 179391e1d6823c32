/**
 * The artifact types built into the core: `json`, `metrics`, `model`,
 * `report`, `file` and `dir`. Each serializes deterministically, so equal
 * values always have equal digests (and hit the cache).
 */
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import {
  type ArtifactType,
  defineArtifactType,
  type ModelBundle,
  type ModelManifest,
} from '../contracts/artifact';
import { CairnError, ErrorCodes } from '../errors';
import { canonicalJson } from '../hash';

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// json

/**
 * Any JSON value, stored as canonical JSON (sorted keys, no whitespace), so
 * `{ a: 1, b: 2 }` and `{ b: 2, a: 1 }` are the same artifact. With a
 * Standard Schema (zod, valibot, arktype) the value is validated when the
 * step returns it and again when the next step reads it.
 *
 * @example
 * ```ts
 * outputs: { params: json(z.object({ lr: z.number() })) }
 * ```
 */
export function json<T = unknown>(schema?: StandardSchemaV1<unknown, T>): ArtifactType<T, 'json'> {
  return defineArtifactType<T, 'json'>({
    name: 'json',
    form: 'blob',
    check(value) {
      const problem = jsonProblem(value);
      if (problem || !schema) return problem;
      const result = schema['~standard'].validate(value);
      // An async schema cannot answer here; serialize checks it.
      if (result instanceof Promise) return undefined;
      return result.issues ? formatSchemaIssues(result.issues) : undefined;
    },
    async serialize(value) {
      const problem = jsonProblem(value);
      if (problem) throw mismatch('json', problem);
      if (schema) await validateWith(schema, value, 'json');
      return { bytes: encoder.encode(canonicalJson(value)) };
    },
    async deserialize({ path, bytes }) {
      const value = await readJson(path, 'json', bytes);
      return schema ? validateWith(schema, value, 'json') : (value as T);
    },
    describe(value) {
      if (Array.isArray(value)) return { type: 'array', length: value.length };
      if (value !== null && typeof value === 'object')
        return { type: 'object', keys: Object.keys(value).length };
      return { type: value === null ? 'null' : typeof value };
    },
  });
}

// ---------------------------------------------------------------------------
// metrics

/** A flat map of metric names to finite numbers: `{ accuracy: 0.97, f1: 0.95 }`. */
export type Metrics = Record<string, number>;

/**
 * Evaluation results as a flat name → number map, stored as canonical JSON.
 * The metadata store keeps them (via `describe`) so runs can be compared and
 * promotion gates can read them without opening storage.
 */
export function metrics(): ArtifactType<Metrics, 'metrics'> {
  return defineArtifactType<Metrics, 'metrics'>({
    name: 'metrics',
    form: 'blob',
    check: metricsProblem,
    serialize(value) {
      const problem = metricsProblem(value);
      if (problem) throw mismatch('metrics', problem);
      return { bytes: encoder.encode(canonicalJson(value)) };
    },
    async deserialize({ path, bytes }) {
      const value = await readJson(path, 'metrics', bytes);
      const problem = metricsProblem(value);
      if (problem) throw mismatch('metrics', `${path}: ${problem}`);
      return value as Metrics;
    },
    describe: (value) => ({ ...value }),
  });
}

function metricsProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return `expected a flat map of metric names to numbers, got ${kindOf(value)}`;
  for (const [key, item] of Object.entries(value)) {
    if (key === '') return 'metric names must not be empty';
    if (typeof item !== 'number' || !Number.isFinite(item)) {
      return `metric "${key}" must be a finite number, got ${typeof item === 'number' ? item : kindOf(item)}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// model

// The model types (ModelBundle, ModelManifest, ModelField) live with the artifact contract.

/**
 * A model bundle, stored as a folder: `cairn-model.json` (the manifest, as
 * canonical JSON) and `files/<name>` for each payload file. Read back, every
 * file is a `Uint8Array`.
 */
export function model(): ArtifactType<ModelBundle, 'model'> {
  return defineArtifactType<ModelBundle, 'model'>({
    name: 'model',
    form: 'tree',
    check: modelProblem,
    async serialize(value, ctx) {
      const problem = modelProblem(value);
      if (problem) throw mismatch('model', problem);
      const root = await scratch(ctx.workdir, ctx.name);
      await writeFile(join(root, 'cairn-model.json'), canonicalJson(value.manifest));
      await writeFiles(join(root, 'files'), value.files);
      return { dir: root };
    },
    async deserialize({ path }) {
      const manifest = (await readJson(join(path, 'cairn-model.json'), 'model')) as ModelManifest;
      const files = await readFiles(join(path, 'files'));
      const bundle = { manifest, files };
      const problem = modelProblem(bundle);
      if (problem) throw mismatch('model', `${path}: ${problem}`);
      return bundle;
    },
    describe: (value) => ({
      flavor: value.manifest.flavor,
      ...(value.manifest.framework ? { framework: value.manifest.framework } : {}),
      inputs: value.manifest.signature.inputs.length,
      outputs: value.manifest.signature.outputs.length,
      files: Object.keys(value.files).length,
    }),
  });
}

function modelProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return `expected { manifest, files }, got ${kindOf(value)}`;
  const manifest = value.manifest;
  if (!isPlainObject(manifest)) return `manifest: expected an object, got ${kindOf(manifest)}`;
  if (typeof manifest.flavor !== 'string' || manifest.flavor === '') {
    return 'manifest.flavor: expected a non-empty string';
  }
  const framework = manifest.framework;
  if (
    framework !== undefined &&
    !(isPlainObject(framework) && typeof framework.name === 'string' && typeof framework.version === 'string')
  ) {
    return 'manifest.framework: expected { name: string, version: string }';
  }
  const signature = manifest.signature;
  if (!isPlainObject(signature)) return 'manifest.signature: expected { inputs, outputs }';
  for (const side of ['inputs', 'outputs'] as const) {
    const list = signature[side];
    if (!Array.isArray(list)) return `manifest.signature.${side}: expected an array`;
    for (const [i, item] of list.entries()) {
      const where = `manifest.signature.${side}[${i}]`;
      if (!isPlainObject(item) || typeof item.name !== 'string' || typeof item.type !== 'string') {
        return `${where}: expected { name: string, type: string, values?: string[] }`;
      }
      if (
        item.values !== undefined &&
        !(Array.isArray(item.values) && item.values.every((v) => typeof v === 'string'))
      ) {
        return `${where}.values: expected an array of strings`;
      }
    }
  }
  if (
    manifest.libraries !== undefined &&
    !(
      isPlainObject(manifest.libraries) &&
      Object.values(manifest.libraries).every((v) => typeof v === 'string')
    )
  ) {
    return 'manifest.libraries: expected a map of library names to versions';
  }
  if (manifest.metadata !== undefined) {
    if (!isPlainObject(manifest.metadata)) return 'manifest.metadata: expected an object';
    const problem = jsonProblem(manifest.metadata);
    if (problem) return `manifest.metadata: ${problem}`;
  }
  const filesProblem = fileMapProblem(value.files, 'files');
  if (filesProblem) return filesProblem;
  if (manifest.preprocessing !== undefined) {
    if (typeof manifest.preprocessing !== 'string') return 'manifest.preprocessing: expected a file name';
    if (!(manifest.preprocessing in (value.files as Record<string, unknown>))) {
      return `manifest.preprocessing: "${manifest.preprocessing}" is not one of the bundle's files`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// report

/** An evaluation report: HTML or Markdown, with optional assets (SVG charts, images). */
export interface Report {
  format: 'html' | 'markdown';
  title?: string;
  content: string;
  /** Files next to the report, stored under `assets/`: refer to them as `assets/<name>`. */
  assets?: Record<string, Uint8Array | string>;
}

/**
 * An HTML report value. Use it to return a `report()` output: a literal
 * `{ format: 'html' }` written inline in `run` widens to `string` during
 * inference and does not compile.
 *
 * @example return { report: reportHtml(htmlReport({ title: 'Evaluation', sections })) };
 */
export function reportHtml(
  content: string,
  options: { title?: string; assets?: Report['assets'] } = {},
): Report {
  return { format: 'html', content, ...options };
}

/** A Markdown report value (see {@link reportHtml}). */
export function reportMarkdown(
  content: string,
  options: { title?: string; assets?: Report['assets'] } = {},
): Report {
  return { format: 'markdown', content, ...options };
}

/**
 * A report, stored as a folder: `index.html` or `index.md`, `report.json`
 * (format and title) and `assets/<name>` for each asset.
 */
export function report(): ArtifactType<Report, 'report'> {
  return defineArtifactType<Report, 'report'>({
    name: 'report',
    form: 'tree',
    check: reportProblem,
    async serialize(value, ctx) {
      const problem = reportProblem(value);
      if (problem) throw mismatch('report', problem);
      const root = await scratch(ctx.workdir, ctx.name);
      const info =
        value.title === undefined ? { format: value.format } : { format: value.format, title: value.title };
      await writeFile(join(root, 'report.json'), canonicalJson(info));
      await writeFile(join(root, indexName(value.format)), value.content);
      if (value.assets && Object.keys(value.assets).length > 0)
        await writeFiles(join(root, 'assets'), value.assets);
      return { dir: root };
    },
    async deserialize({ path }) {
      const info = (await readJson(join(path, 'report.json'), 'report')) as {
        format: Report['format'];
        title?: string;
      };
      if (info.format !== 'html' && info.format !== 'markdown') {
        throw mismatch('report', `${path}/report.json: unknown format ${JSON.stringify(info.format)}`);
      }
      const content = await readFile(join(path, indexName(info.format)), 'utf8');
      const assets = await readFiles(join(path, 'assets'));
      const out: Report = { format: info.format, content };
      if (info.title !== undefined) out.title = info.title;
      if (Object.keys(assets).length > 0) out.assets = assets;
      return out;
    },
    describe: (value) => ({
      format: value.format,
      ...(value.title !== undefined ? { title: value.title } : {}),
      assets: Object.keys(value.assets ?? {}).length,
    }),
  });
}

const indexName = (format: Report['format']) => (format === 'html' ? 'index.html' : 'index.md');

function reportProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return `expected { format, content }, got ${kindOf(value)}`;
  if (value.format !== 'html' && value.format !== 'markdown') {
    return `format: expected "html" or "markdown", got ${JSON.stringify(value.format)}`;
  }
  if (typeof value.content !== 'string') return `content: expected a string, got ${kindOf(value.content)}`;
  if (value.title !== undefined && typeof value.title !== 'string') return 'title: expected a string';
  return value.assets === undefined ? undefined : fileMapProblem(value.assets, 'assets');
}

// ---------------------------------------------------------------------------
// file and dir

/**
 * A file on disk, stored as it is (streamed, never loaded). A step returns
 * the path of the file it wrote; the next step receives the path of a
 * verified copy — possibly the store's own read-only object, so do not
 * modify it.
 */
export function file(): ArtifactType<string, 'file'> {
  return defineArtifactType<string, 'file'>({
    name: 'file',
    form: 'blob',
    check: (value) => pathProblem(value, 'file'),
    serialize(value) {
      const problem = pathProblem(value, 'file');
      if (problem) throw mismatch('file', problem);
      return { file: value };
    },
    deserialize: ({ path }) => path,
  });
}

/**
 * A folder on disk, stored as a deterministic tar. A step returns the path of
 * the folder it wrote; the next step receives the path of an extracted copy.
 */
export function dir(): ArtifactType<string, 'dir'> {
  return defineArtifactType<string, 'dir'>({
    name: 'dir',
    form: 'tree',
    check: (value) => pathProblem(value, 'dir'),
    serialize(value) {
      const problem = pathProblem(value, 'dir');
      if (problem) throw mismatch('dir', problem);
      return { dir: value };
    },
    deserialize: ({ path }) => path,
  });
}

function pathProblem(value: unknown, kind: 'file' | 'dir'): string | undefined {
  const what = kind === 'file' ? 'file' : 'folder';
  if (typeof value !== 'string' || value === '')
    return `expected the path of a ${what}, got ${kindOf(value)}`;
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(value);
  } catch {
    return `${value}: no such ${what}`;
  }
  if (kind === 'file' && !info?.isFile()) return `${value}: not a regular file`;
  if (kind === 'dir' && !info?.isDirectory()) return `${value}: not a folder`;
  return undefined;
}

// ---------------------------------------------------------------------------
// helpers

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : `a ${typeof value}`;
}

function jsonProblem(value: unknown): string | undefined {
  if (value === undefined) return 'expected a JSON value, got undefined';
  try {
    canonicalJson(value);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function mismatch(type: string, message: string, cause?: unknown): CairnError {
  return new CairnError(
    ErrorCodes.ARTIFACT_TYPE_MISMATCH,
    `${type} artifact: ${message}`,
    cause ? { cause } : {},
  );
}

function formatSchemaIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((segment) => String(typeof segment === 'object' ? segment.key : segment))
        .join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

async function validateWith<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  type: string,
): Promise<T> {
  const result = await schema['~standard'].validate(value);
  if (result.issues) throw mismatch(type, `does not match its schema: ${formatSchemaIssues(result.issues)}`);
  return result.value;
}

async function readJson(path: string, type: string, bytes?: Uint8Array): Promise<unknown> {
  const text = bytes ? new TextDecoder().decode(bytes) : await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw mismatch(type, `${path} is not valid JSON`, error);
  }
}

/**
 * A file name inside a bundle: relative, `/`-separated, no `.`/`..`/empty
 * segments, no backslashes — so writing it cannot leave the bundle folder.
 */
function fileNameProblem(name: string): string | undefined {
  if (name === '') return 'empty file name';
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return `"${name}" is an absolute path`;
  if (name.includes('\\') || name.includes('\0')) return `"${name}" contains a backslash or NUL`;
  if (name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return `"${name}" must be a relative path without empty, "." or ".." segments`;
  }
  return undefined;
}

function fileMapProblem(files: unknown, where: string): string | undefined {
  if (!isPlainObject(files)) return `${where}: expected a map of file names to bytes or strings`;
  const names = Object.keys(files);
  for (const name of names) {
    const problem = fileNameProblem(name);
    if (problem) return `${where}: ${problem}`;
    const content = files[name];
    if (!(content instanceof Uint8Array) && typeof content !== 'string') {
      return `${where}["${name}"]: expected a Uint8Array or a string, got ${kindOf(content)}`;
    }
    // "a" and "a/b" cannot both exist: one would have to be a file and a folder.
    if (names.some((other) => other.startsWith(`${name}/`))) {
      return `${where}: "${name}" is both a file and a folder`;
    }
  }
  return undefined;
}

async function scratch(workdir: string, name: string): Promise<string> {
  await mkdir(workdir, { recursive: true });
  return mkdtemp(join(workdir, `${name.replace(/[^A-Za-z0-9_-]/g, '_') || 'artifact'}-`));
}

async function writeFiles(root: string, files: Record<string, Uint8Array | string>): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const target = join(root, ...name.split('/'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { mode: 0o644 });
  }
}

async function readFiles(root: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  const exists = await stat(root).catch(() => undefined);
  if (!exists?.isDirectory()) return out;
  const walk = async (folder: string, prefix: string) => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(join(folder, entry.name), name);
      else if (entry.isFile()) out[name] = new Uint8Array(await readFile(join(folder, entry.name)));
    }
  };
  await walk(root, '');
  return out;
}
