// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { CairnError } from '@cairn/core';
import { describeEnvProblem, envRefNames, resolveEnvRefs } from '@cairn/runtime';
import { parsePluginOptions } from '@cairn/runtime/plugin-kit';
import { z } from 'zod';

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
const MAX_TIMER_MS = 2_147_483_647;

const integer = (min: number, max: number, fallback: number) =>
  z
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` })
    .default(fallback);

/**
 * The options as written. A literal URL is parsed here; one with `${env:…}`
 * references only has its references checked (the variables may be set later,
 * e.g. by a CI step). The URL is a secret: messages never quote it.
 */
const Options = z.strictObject(
  {
    url: z
      .string({ error: 'must be a non-empty connection string, e.g. "${env:DATABASE_URL}"' })
      .superRefine((url, ctx) => {
        if (url.trim() === '') {
          ctx.addIssue({
            code: 'custom',
            message: 'must be a non-empty connection string, e.g. "${env:DATABASE_URL}"',
          });
        } else if (hasEnvRefs(url)) {
          // The runtime's parser, so a reference that passes here also resolves at connect time.
          const problem = envRefNames(url).problems[0];
          if (problem) ctx.addIssue({ code: 'custom', message: describeEnvProblem(problem) });
        } else {
          try {
            parseUrl(url, (message) => new Error(message));
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message });
          }
        }
      }),
    schema: z
      .string({ error: 'must be a lowercase identifier (letters, digits, _; at most 63 characters)' })
      .regex(IDENTIFIER, {
        error: 'must be a lowercase identifier (letters, digits, _; at most 63 characters)',
      })
      .default('cairn'),
    poolSize: integer(1, 1000, 10),
    statementTimeoutMs: integer(0, MAX_TIMER_MS, 30_000),
    connectTimeoutMs: integer(1, MAX_TIMER_MS, 10_000),
  },
  { error: 'must be a connection string or { url }' },
);

/**
 * Check options once, when the factory is called, and apply the defaults.
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, never quoting the URL
 */
export function validateOptions(input: PostgresMetadataOptions | string): ResolvedOptions {
  const options = typeof input === 'string' ? { url: input } : input;
  return parsePluginOptions(PLUGIN, Options, options, { secret: ['url'] });
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
