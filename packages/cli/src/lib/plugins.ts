/**
 * Plugins as the CLI sees them: a package whose package.json has a `"cairn"`
 * field saying what it is and how a project wires it in. Ours and a platform
 * team's are read the same way; the CLI keeps no table of plugins.
 *
 * ```json
 * "cairn": {
 *   "kind": "metadata", "id": "postgres",
 *   "factory": "postgresMetadata",
 *   "options": "{ url: '${env:DATABASE_URL}' }",
 *   "env": [{ "name": "DATABASE_URL", "doc": "…", "example": "postgres://…" }],
 *   "team": true
 * }
 * ```
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { STACK_SLOTS } from '@cairn/core';
import { usageError } from './errors';
import { nameForms, npmNameProblems } from './names';

/** The kinds a `cairn.config.ts` stack slot holds; each slot is named after its kind. */
export type PluginKind = (typeof STACK_SLOTS)[number];
// A copy of the core's list: importing values from @cairn/core here would load
// the whole core on every command start. plugins.test.ts fails when the two differ.
export const STACK_KINDS: readonly PluginKind[] = ['storage', 'metadata', 'executor', 'deployer', 'abtest'];

/** An environment variable a plugin's generated options read (`${env:NAME}`), for `.env.example`. */
export interface PluginEnvVar {
  name: string;
  /** One line: what it is. */
  doc: string;
  /** A value that works with the local servers of the docs. */
  example: string;
}

/** A plugin's `"cairn"` package.json field, checked, with its defaults applied. */
export interface PluginManifest {
  /** The stack slot it fills (or another kind, installed but not wired into the stack). */
  kind: string;
  /** Short id of the implementation, e.g. `s3`; names the factory by default. */
  id: string;
  /** The identifier the default export is imported as. @default camel(id) + Pascal(kind), e.g. `s3Storage` */
  factory: string;
  /**
   * The factory's argument as written into cairn.config.ts, one string or one
   * string per line, with every setting read from `${env:…}` references.
   * @default '' (the factory is called with no argument)
   */
  options: string[];
  /** The variables `options` refers to, for `.env.example`. @default [] */
  env: PluginEnvVar[];
  /**
   * A shared backend (a server the team runs): wired into the `team`
   * environment rather than the base stack, so a fresh clone and CI keep
   * running on the embedded defaults. @default false
   */
  team: boolean;
}

/** The environment `cairn new --plugins` and `cairn add` wire a team plugin into by default. */
export const TEAM_ENV = 'team';

/** What is wrong with a `"cairn"` field, one problem a line; empty when it is valid. */
export function manifestProblems(field: unknown): string[] {
  if (typeof field !== 'object' || field === null || Array.isArray(field)) {
    return ['there is no "cairn": { "kind", "id" } object'];
  }
  const f = field as Record<string, unknown>;
  const problems: string[] = [];
  const identifier = /^[A-Za-z_$][\w$]*$/;
  if (typeof f.kind !== 'string' || !/^[a-z][a-z0-9-]*$/.test(f.kind)) {
    problems.push(`"kind" must be a lowercase word such as ${STACK_KINDS.join(', ')}`);
  }
  if (typeof f.id !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(f.id)) {
    problems.push('"id" must be a lowercase name such as "s3" or "postgres"');
  }
  if (f.factory !== undefined && (typeof f.factory !== 'string' || !identifier.test(f.factory))) {
    problems.push('"factory" must be a JavaScript identifier');
  }
  const options = f.options;
  const lines = typeof options === 'string' ? [options] : Array.isArray(options) ? options : undefined;
  if (options !== undefined && (!lines || lines.some((line) => typeof line !== 'string'))) {
    problems.push('"options" must be a string or an array of lines');
  } else if (lines && !balanced(lines.join('\n'))) {
    problems.push('"options" must be one balanced expression (check its brackets and quotes)');
  }
  if (f.env !== undefined) {
    const env = Array.isArray(f.env) ? f.env : undefined;
    const bad = env?.findIndex(
      (v) =>
        typeof v !== 'object' ||
        v === null ||
        typeof v.name !== 'string' ||
        !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v.name) ||
        typeof v.doc !== 'string' ||
        typeof v.example !== 'string' ||
        /[\r\n]/.test(`${v.doc}${v.example}`),
    );
    if (!env || bad !== -1) {
      problems.push(
        `"env" must be an array of { "name": "VAR_NAME", "doc": "one line", "example": "a value" }${env ? ` (entry ${bad! + 1})` : ''}`,
      );
    }
  }
  if (f.team !== undefined && typeof f.team !== 'boolean') problems.push('"team" must be true or false');
  return problems;
}

/**
 * The checked manifest of a package's `"cairn"` field.
 * @throws CAIRN_PLUGIN_INVALID naming the package and every problem
 */
export function readManifest(pkg: string, field: unknown): PluginManifest {
  const problems = manifestProblems(field);
  if (problems.length > 0) throw invalidPlugin(pkg, problems);
  const f = field as Record<string, unknown>;
  const kind = f.kind as string;
  const id = f.id as string;
  const options = f.options === undefined ? [] : typeof f.options === 'string' ? [f.options] : f.options;
  return {
    kind,
    id,
    factory: (f.factory as string | undefined) ?? factoryName(kind, id),
    options: (options as string[]).join('\n').split('\n'),
    env: (f.env as PluginEnvVar[] | undefined) ?? [],
    team: (f.team as boolean | undefined) ?? false,
  };
}

/** The error for a package that is not a (valid) Cairn plugin: `CAIRN_PLUGIN_INVALID`, exit 2. */
function invalidPlugin(pkg: string, problems: string[]): Error {
  return usageError(
    `${pkg} is not a Cairn plugin: its package.json "cairn" field is missing or malformed\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    {
      code: 'CAIRN_PLUGIN_INVALID',
      hint: 'A plugin declares what it is and how to wire it, e.g. "cairn": { "kind": "storage", "id": "s3", "options": "{ bucket: \'${env:ARTIFACT_BUCKET}\' }" } (see docs/platform-teams.md).',
    },
  );
}

/** `factory(options)` as written into cairn.config.ts, starting on a line indented by `indent`. */
export function pluginCall(manifest: PluginManifest, indent: string): string {
  return `${manifest.factory}(${manifest.options.join(`\n${indent}`)})`;
}

export interface PluginName {
  /** The npm package to install. */
  package: string;
  /** Our short name (`storage-s3` for `@cairn/storage-s3`), when it is one. */
  short?: string;
}

/** Our packages' short names are `<kind>-<impl>`; deployers are `deploy-<impl>`. */
const SHORT_NAME = /^(storage|metadata|executor|deploy|abtest)-[a-z0-9][a-z0-9-]*$/;

/**
 * Resolve what the user typed: `storage-s3` and `@cairn/storage-s3` are our
 * `@cairn/storage-s3`; any other scoped npm name is taken as is (unscoped
 * ones too with `allowUnscoped`); `undefined` for something that cannot be a
 * plugin's package name.
 */
export function resolvePluginName(
  input: string,
  options: { allowUnscoped?: boolean } = {},
): PluginName | undefined {
  const name = input.trim();
  const short = name.startsWith('@cairn/') ? name.slice('@cairn/'.length) : name;
  if (SHORT_NAME.test(short)) return { package: `@cairn/${short}`, short };
  if (npmNameProblems(name).length > 0) return undefined;
  if (!name.startsWith('@') && !options.allowUnscoped) return undefined;
  return { package: name };
}

/** A hint listing how plugins are named. */
export const PLUGIN_NAME_HINT =
  'Name one of ours by its short name (storage-s3, metadata-postgres, executor-bullmq, deploy-local, abtest-local), or give a scoped npm name such as @acme/storage-gcs.';

/** The identifier a plugin's default export is imported as: `s3Storage`, `postgresMetadata`. */
export function factoryName(kind: string, id: string): string {
  return `${nameForms(id).camel}${nameForms(kind).pascal}`;
}

/**
 * The installed plugin of a kind and id among a project's dependencies
 * (`node_modules/<dep>/package.json` with a matching `"cairn"` field).
 */
export function findInstalledPlugin(
  projectDir: string,
  kind: string,
  id: string,
): { package: string; manifest: PluginManifest } | undefined {
  const pjsonFile = join(projectDir, 'package.json');
  if (!existsSync(pjsonFile)) return undefined;
  const pjson = JSON.parse(readFileSync(pjsonFile, 'utf8'));
  for (const dep of Object.keys({ ...pjson.devDependencies, ...pjson.dependencies })) {
    const file = join(projectDir, 'node_modules', ...dep.split('/'), 'package.json');
    if (!existsSync(file)) continue;
    const field = JSON.parse(readFileSync(file, 'utf8')).cairn;
    if (manifestProblems(field).length > 0 || field.kind !== kind || field.id !== id) continue;
    return { package: dep, manifest: readManifest(dep, field) };
  }
  return undefined;
}

/** Whether brackets and quotes in a JavaScript expression pair up (a cheap guard before editing a config). */
function balanced(source: string): boolean {
  const stack: string[] = [];
  const close: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '/' && source[i + 1] === '/') {
      i = source.indexOf('\n', i);
      if (i < 0) break;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      if (source[j] !== c) return false;
      i = j;
    } else if ('([{'.includes(c)) stack.push(c);
    else if (c in close && stack.pop() !== close[c]) return false;
  }
  return stack.length === 0;
}
