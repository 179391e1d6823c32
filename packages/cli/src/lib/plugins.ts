/**
 * Plugin names: our short names (`storage-s3`) map to `@cairn/…` packages;
 * any scoped npm name (`@acme/storage-gcs`) is accepted as is.
 */
import { nameForms, npmNameProblems } from './names';

export type PluginKind = 'storage' | 'metadata' | 'executor';
export const STACK_KINDS: readonly PluginKind[] = ['storage', 'metadata', 'executor'];

/** What we know about our own plugins before they are installed (for `cairn new --plugins`). */
export const KNOWN_PLUGINS: Record<string, { kind: PluginKind; id: string; example: string }> = {
  'metadata-sqlite': { kind: 'metadata', id: 'sqlite', example: "{ file: '.cairn/metadata.db' }" },
  'metadata-postgres': { kind: 'metadata', id: 'postgres', example: "{ url: '${env:DATABASE_URL}' }" },
  'storage-s3': { kind: 'storage', id: 's3', example: "{ bucket: '${env:ARTIFACT_BUCKET}' }" },
  'executor-bullmq': { kind: 'executor', id: 'bullmq', example: "{ connection: '${env:REDIS_URL}' }" },
};

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
