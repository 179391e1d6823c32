import { CairnError, ErrorCodes } from '@cairn/core';
import { resolveEnvRefs } from '@cairn/runtime';

/** Options of {@link postgresMetadata}. */
export interface PostgresMetadataOptions {
  /**
   * Connection string, `postgres://user:password@host:port/database`. Put the
   * password in the environment: `'${env:DATABASE_URL}'` is resolved when the
   * store is first used, so the secret is never written to config, metadata,
   * the plugin's `ref` or an error message.
   *
   * @example '${env:DATABASE_URL}'
   * @example 'postgres://cairn@db.internal:5432/cairn' // password from PGPASSWORD
   */
  url: string;
  /**
   * PostgreSQL schema holding Cairn's tables; created by the first migration.
   * Several projects (or test suites) can share one database with one schema each.
   * @default 'cairn'
   */
  schema?: string;
  /**
   * Most connections this process opens at once.
   * @default 10
   */
  poolSize?: number;
  /**
   * Longest a single statement may run before the server cancels it, in
   * milliseconds; `0` for no limit.
   * @default 30000
   */
  statementTimeoutMs?: number;
  /**
   * Longest to wait for a connection (TCP connect plus login), in milliseconds.
   * @default 10000
   */
  connectTimeoutMs?: number;
}

/** Options after validation, with every default applied. */
export interface ResolvedOptions {
  url: string;
  schema: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

const PLUGIN = '@cairn/metadata-postgres';
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const ENV_REF = /\$\{env:([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function invalid(option: string, message: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${PLUGIN}: option "${option}" ${message}`, {
    issues: [{ source: PLUGIN, path: [option], message }],
  });
}

/**
 * Check options once, when the factory is called. A literal URL is parsed
 * here; one with `${env:…}` references only has its references checked (the
 * variables may be set later, e.g. by a CI step). Messages never quote the URL,
 * which may hold a password.
 */
export function validateOptions(input: PostgresMetadataOptions | string): ResolvedOptions {
  const options: PostgresMetadataOptions = typeof input === 'string' ? { url: input } : input;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid('url', 'is required: pass a connection string or { url }');
  }
  const known = new Set(['url', 'schema', 'poolSize', 'statementTimeoutMs', 'connectTimeoutMs']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalid(key, `is not an option (known: ${[...known].join(', ')})`);
  }
  const { url } = options;
  if (typeof url !== 'string' || url.trim() === '') {
    throw invalid('url', `must be a non-empty connection string, e.g. "\${env:DATABASE_URL}"`);
  }
  if (hasEnvRefs(url)) {
    for (const match of url.matchAll(ENV_REF)) {
      if (!ENV_NAME.test(match[1] ?? '')) {
        throw invalid('url', `has a malformed reference \${env:${match[1]}}: expected a variable name`);
      }
    }
  } else {
    parseUrl(url, (message) => invalid('url', message));
  }
  const schema = options.schema ?? 'cairn';
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw invalid(
      'schema',
      `must be a lowercase identifier (letters, digits, _; at most 63 characters), got ${JSON.stringify(schema)}`,
    );
  }
  return {
    url,
    schema,
    poolSize: integer(options.poolSize, 'poolSize', 10, 1, 1000),
    statementTimeoutMs: integer(options.statementTimeoutMs, 'statementTimeoutMs', 30_000, 0, 2_147_483_647),
    connectTimeoutMs: integer(options.connectTimeoutMs, 'connectTimeoutMs', 10_000, 1, 2_147_483_647),
  };
}

function integer(value: unknown, option: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function hasEnvRefs(value: string): boolean {
  return /\$\{env:/.test(value);
}

/**
 * Replace `${env:NAME}` references with the environment's values, at first use.
 * @throws CAIRN_CONFIG_ENV_MISSING naming the variable when one is not set
 */
export function resolveUrl(url: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return resolveEnvRefs(url, env);
  } catch (error) {
    if (!CairnError.is(error)) throw error;
    throw new CairnError(error.code, `${PLUGIN}: option "url": ${error.message}`, {
      issues: error.issues.map((issue) => ({ ...issue, source: PLUGIN, path: ['url'] })),
      hint: 'Set the variable to a connection string such as postgres://user:password@host:5432/database',
    });
  }
}

/** Where a connection string points, for messages: host, port, database and user — never the password. */
export interface Endpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  /** `host:port/database`, the way errors name the server. */
  label: string;
}

export function parseUrl(url: string, fail: (message: string) => Error): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fail('is not a valid connection string: expected postgres://user:password@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw fail(`must start with postgres:// or postgresql://, got ${parsed.protocol}//`);
  }
  const host = parsed.searchParams.get('host') ?? (decodeURIComponent(parsed.hostname) || 'localhost');
  const port = Number(parsed.searchParams.get('port') ?? (parsed.port || 5432));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail('has an invalid port');
  const user = decodeURIComponent(parsed.username) || process.env.PGUSER || process.env.USER || 'postgres';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || process.env.PGDATABASE || user;
  const password = parsed.password
    ? decodeURIComponent(parsed.password)
    : (parsed.searchParams.get('password') ?? undefined);
  const where = host.includes(':') && !host.startsWith('/') ? `[${host}]` : host;
  return { host, port, database, user, password, label: `${where}:${port}/${database}` };
}

/** The URL without its password, for the plugin's `ref`. Env references stay as they are. */
export function withoutPassword(url: string): string {
  if (hasEnvRefs(url)) return url;
  const parsed = new URL(url);
  if (!parsed.password && !parsed.searchParams.has('password')) return url;
  parsed.password = '';
  parsed.searchParams.delete('password');
  return parsed.toString();
}
