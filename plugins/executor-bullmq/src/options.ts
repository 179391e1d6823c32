// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, ErrorCodes } from '@cairn/core';
import { hasEnvRefs, resolveEnvRefs } from '@cairn/runtime';
import { parsePluginOptions } from '@cairn/runtime/plugin-kit';
import { z } from 'zod';

/** Options of {@link bullmqExecutor}. */
export interface BullmqExecutorOptions {
  /**
   * The Redis server of the queue: a `redis://` or `rediss://` URL, usually a
   * `${env:REDIS_URL}` reference. References are resolved when the executor
   * connects, so the password never sits in `cairn.config.ts` or in a message.
   * @example '${env:REDIS_URL}'
   * @example 'redis://:secret@redis.internal:6379/0'
   */
  connection: string;
  /**
   * Name of the BullMQ queue. Coordinators and `cairn worker` processes meet
   * on it; use one per team or per environment.
   * @default 'cairn'
   */
  queue?: string;
  /**
   * How many step tasks one run keeps in flight on the queue. Workers have
   * their own concurrency (`cairn worker --concurrency`).
   * @default 4 (or the run's `--concurrency`)
   */
  concurrency?: number;
  /**
   * How long a worker's lock on a job lasts (renewed every half of it while
   * the step runs). When a worker dies, its job is retaken after the lock
   * expires and the next stalled check runs. A step that blocks the event
   * loop for longer than this loses its lock and is run again elsewhere.
   * Read by `cairn worker`.
   * @default 30000
   */
  lockDurationMs?: number;
  /**
   * How often workers look for jobs whose worker died. Read by `cairn worker`.
   * @default 30000
   */
  stalledIntervalMs?: number;
  /**
   * Accept a storage that is not shared across machines (a local folder):
   * the workers must then run on this machine. For tests and single-host
   * setups.
   * @default false
   */
  allowLocalStorage?: boolean;
}

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const PLUGIN = 'bullmqExecutor';

export function invalid(option: string, problem: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${PLUGIN}: option "${option}" ${problem}`);
}

const positive = (what = 'must be a positive integer') =>
  z.number({ error: what }).int({ error: what }).positive({ error: what }).optional();

/** The options as written: types and ranges, and the URL when it holds no `${env:…}` reference. */
const Options = z.strictObject({
  // A secret: the URL may hold a password, so its value is never echoed.
  connection: z
    .string({ error: 'must be a redis:// URL or a ${env:NAME} reference to one' })
    .superRefine((connection, ctx) => {
      if (connection.trim() === '') {
        ctx.addIssue({ code: 'custom', message: 'must be a redis:// URL or a ${env:NAME} reference to one' });
        return;
      }
      if (hasEnvRefs(connection)) return;
      try {
        parseRedisUrl(connection, 'connection');
      } catch (error) {
        // parseRedisUrl's message is `bullmqExecutor: option "connection" <problem>`: keep the problem.
        ctx.addIssue({
          code: 'custom',
          message: (error as Error).message.replace(/^[^"]*"connection" /, ''),
        });
      }
    }),
  queue: z
    .string({ error: 'must be a name of letters, digits, ".", "_" and "-"' })
    .regex(QUEUE_NAME, { error: 'must be a name of letters, digits, ".", "_" and "-"' })
    .optional(),
  concurrency: positive(),
  lockDurationMs: positive().pipe(
    z
      .number()
      .min(1000, { error: 'must be at least 1000 (the lock is renewed every half of it)' })
      .optional(),
  ),
  stalledIntervalMs: positive(),
  allowLocalStorage: z.boolean({ error: 'must be a boolean' }).optional(),
});

/** Check the options as written; throws `CAIRN_PLUGIN_OPTIONS_INVALID` naming the option. */
export function validateOptions(options: unknown): asserts options is BullmqExecutorOptions {
  // Called with nothing, the one required option is what is missing.
  parsePluginOptions(PLUGIN, Options, options ?? {}, { secret: ['connection'] });
}

/** What ioredis needs to connect, plus a printable `host:port` that never holds a secret. */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  /** `host:port`, for messages. */
  where: string;
}

/** Parse a resolved Redis URL. Problems name the option and never the URL itself (it may hold a password). */
export function parseRedisUrl(text: string, option: string, via = ''): RedisEndpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(option, `${via}is not a URL: expected redis://[user:password@]host[:port][/db]`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(option, `${via}must use redis:// or rediss://, got ${url.protocol}//`);
  }
  if (!url.hostname) throw invalid(option, `${via}has no host: expected redis://host:port`);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) {
    throw invalid(option, `${via}names database "${dbText}": expected a number such as /0`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : 6379;
  return {
    host,
    port,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db: dbText === '' ? 0 : Number(dbText),
    tls: url.protocol === 'rediss:',
    where: `${url.hostname}:${port}`,
  };
}

/** Resolve `${env:…}` now (at connect time) and parse the URL. */
export function resolveEndpoint(connection: string, env: NodeJS.ProcessEnv = process.env): RedisEndpoint {
  const resolved = resolveEnvRefs(connection, env);
  return parseRedisUrl(resolved, 'connection', hasEnvRefs(connection) ? `(from ${connection}) ` : '');
}

/** ioredis options for an endpoint; BullMQ's blocking connections need `maxRetriesPerRequest: null`. */
export function redisOptions(endpoint: RedisEndpoint) {
  return {
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    ...(endpoint.username ? { username: endpoint.username } : {}),
    ...(endpoint.password ? { password: endpoint.password } : {}),
    ...(endpoint.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** Replace the password (if any) in a message. */
export function redact(text: string, endpoint: Pick<RedisEndpoint, 'password'>): string {
  const { password } = endpoint;
  if (!password || password.length < 3) return text;
  return text.split(password).join('***').split(encodeURIComponent(password)).join('***');
}

/**
 * Connect once with no retries and ping, so that an unreachable server fails
 * the run now with the host and port, instead of leaving steps queued forever
 * behind a client that retries in the background.
 */
export async function probe(endpoint: RedisEndpoint, timeoutMs = 5000): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis({
    ...redisOptions(endpoint),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  // A refused AUTH arrives as an 'error' event, and the awaited call then only says "Connection is closed".
  let emitted: Error | undefined;
  client.on('error', (error: Error) => {
    emitted ??= error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (cause) {
    const error = emitted ?? (cause as Error);
    const reason = redact(error?.message ?? String(error), endpoint);
    throw new CairnError(
      ErrorCodes.EXECUTOR_FAILED,
      `bullmq: cannot reach Redis at ${endpoint.where}: ${reason}`,
      {
        hint: 'Start the Redis server or fix the connection URL (REDIS_URL); steps are queued there for `cairn worker` processes.',
      },
    );
  } finally {
    client.disconnect();
  }
}

/** How long a close waits for Redis or for BullMQ's own close before going on without them. */
const CLOSE_GRACE_MS = 5000;

/**
 * Whether `promise` (a BullMQ call) fulfilled in time: before {@link CLOSE_GRACE_MS} have passed
 * since `ready` resolved (at once by default); `false` when it is still pending then. A rejection in
 * time is thrown; a later one is left behind with the promise. Two BullMQ waits can last forever:
 * - its client queues commands while Redis is unreachable and never gives up on them (BullMQ asks
 *   for that), so a job's move or a cancel waits for Redis to come back;
 * - a QueueEvents or Worker closed while its connection is reconnecting (just after a Redis
 *   restart) waits for an 'end' event that never comes, though its socket is gone.
 * A run or a worker that waited on either never ended.
 */
export async function fulfilledWithin(
  promise: Promise<unknown>,
  ready: Promise<unknown> = Promise.resolve(),
): Promise<boolean> {
  const given = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      ready.then(() => sleep(CLOSE_GRACE_MS, false, { signal: given.signal })).catch(() => false),
    ]);
  } finally {
    given.abort();
  }
}
