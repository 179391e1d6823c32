/**
 * Plugin names: our short names (`storage-s3`) map to `@cairn/…` packages;
 * any scoped npm name (`@acme/storage-gcs`) is accepted as is.
 */

import type { STACK_SLOTS } from '@cairn/core';
import { nameForms, npmNameProblems } from './names';

/** The kinds a `cairn.config.ts` stack slot holds; each slot is named after its kind. */
export type PluginKind = (typeof STACK_SLOTS)[number];
// A copy of the core's list: importing values from @cairn/core here would load
// the whole core on every command start.
export const STACK_KINDS: readonly PluginKind[] = ['storage', 'metadata', 'executor', 'deployer', 'abtest'];

/** An environment variable a plugin's generated options read (`${env:NAME}`), for `.env.example`. */
export interface PluginEnvVar {
  name: string;
  /** One line: what it is. */
  doc: string;
  /** A value that works with the local servers of the docs. */
  example: string;
}

/** What we know about our own plugins before they are installed (for `cairn new --plugins` and `cairn add`). */
export interface KnownPlugin {
  kind: PluginKind;
  id: string;
  /**
   * The factory's argument as written into cairn.config.ts, with every
   * setting read from the environment; `indent` is the indentation of the
   * line the call starts on.
   */
  options(indent: string): string;
  /** The variables `options` refers to. */
  env: PluginEnvVar[];
  /**
   * A shared backend (a server the team runs): wired into the `team`
   * environment rather than the base stack, so a fresh clone and CI keep
   * running on the embedded defaults.
   */
  team: boolean;
}

const ref = (name: string) => `'\${env:${name}}'`;

export const KNOWN_PLUGINS: Record<string, KnownPlugin> = {
  'metadata-sqlite': {
    kind: 'metadata',
    id: 'sqlite',
    options: () => "{ file: '.cairn/metadata.db' }",
    env: [],
    team: false,
  },
  'metadata-postgres': {
    kind: 'metadata',
    id: 'postgres',
    options: () => `{ url: ${ref('DATABASE_URL')} }`,
    env: [
      {
        name: 'DATABASE_URL',
        doc: 'PostgreSQL connection string of the shared metadata store (runs, lineage, cache, model registry)',
        example: 'postgres://cairn:cairn@127.0.0.1:5432/cairn',
      },
    ],
    team: true,
  },
  'storage-s3': {
    kind: 'storage',
    id: 's3',
    options: (indent) =>
      [
        '{',
        `${indent}  bucket: ${ref('ARTIFACT_BUCKET')},`,
        `${indent}  prefix: 'cairn',`,
        `${indent}  // An S3-compatible server (Ceph, MinIO, R2); delete this line for AWS S3.`,
        `${indent}  endpoint: ${ref('S3_ENDPOINT')},`,
        `${indent}  // Leave credentials out to use the AWS default chain (profile, SSO, instance role).`,
        `${indent}  credentials: {`,
        `${indent}    accessKeyId: ${ref('AWS_ACCESS_KEY_ID')},`,
        `${indent}    secretAccessKey: ${ref('AWS_SECRET_ACCESS_KEY')},`,
        `${indent}  },`,
        `${indent}}`,
      ].join('\n'),
    env: [
      {
        name: 'ARTIFACT_BUCKET',
        doc: 'S3 bucket holding the artifacts (it must exist)',
        example: 'cairn-artifacts',
      },
      {
        name: 'S3_ENDPOINT',
        doc: 'URL of the S3-compatible server (remove `endpoint` from cairn.config.ts for AWS S3)',
        example: 'http://127.0.0.1:7480',
      },
      { name: 'AWS_ACCESS_KEY_ID', doc: 'access key of the bucket', example: 'cairn' },
      { name: 'AWS_SECRET_ACCESS_KEY', doc: 'secret key of the bucket', example: 'change-me' },
    ],
    team: true,
  },
  'deploy-local': {
    kind: 'deployer',
    id: 'local',
    options: () => '{ port: 8080 }',
    env: [],
    team: false,
  },
  'abtest-local': {
    kind: 'abtest',
    id: 'local',
    // No file: the engine keeps <stateDir>/abtest.db, wherever the command runs from.
    options: () => '',
    env: [],
    team: false,
  },
  'executor-bullmq': {
    kind: 'executor',
    id: 'bullmq',
    options: () => `{ connection: ${ref('REDIS_URL')} }`,
    env: [{ name: 'REDIS_URL', doc: 'Redis server of the job queue', example: 'redis://127.0.0.1:6379' }],
    team: true,
  },
};

/** The environment `cairn new --plugins` and `cairn add` wire a plugin into by default. */
export const TEAM_ENV = 'team';

/** `factory(options)` for a known plugin, starting on a line indented by `indent`. */
export function pluginCall(short: string, indent: string): string {
  const known = KNOWN_PLUGINS[short]!;
  return `${factoryName(known.kind, known.id)}(${known.options(indent)})`;
}

export interface PluginName {
  /** The npm package to install. */
  package: string;
  /** Our short name, when it is one of ours. */
  short?: string;
}

/**
 * Resolve what the user typed. Short names and `@cairn/<short>` of known
 * plugins, and any valid npm name; `undefined` for something that cannot be a
 * package name.
 */
export function resolvePluginName(
  input: string,
  options: { allowUnscoped?: boolean } = {},
): PluginName | undefined {
  const name = input.trim();
  const short = name.startsWith('@cairn/') ? name.slice('@cairn/'.length) : name;
  if (KNOWN_PLUGINS[short]) return { package: `@cairn/${short}`, short };
  if (npmNameProblems(name).length > 0) return undefined;
  if (!name.startsWith('@') && !options.allowUnscoped) return undefined;
  return { package: name };
}

/** The identifier a plugin's default export is imported as: `s3Storage`, `postgresMetadata`. */
export function factoryName(kind: string, id: string): string {
  return `${nameForms(id).camel}${nameForms(kind).pascal}`;
}
