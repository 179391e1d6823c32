// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { CairnError, ErrorCodes } from '@cairn/core';
import { hasEnvRefs, resolveEnvRefs } from '@cairn/runtime';

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

const KNOWN = new Set([
  'connection',
  'queue',
  'concurrency',
  'lockDurationMs',
  'stalledIntervalMs',
  'allowLocalStorage',
]);
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function invalid(option: string, problem: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `bullmqExecutor: option "${option}" ${problem}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** Check the options as written: types and ranges, and the URL when it holds no `${env:…}` reference. */
export function validateOptions(options: unknown): asserts options is BullmqExecutorOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('connection', `is required: call bullmqExecutor({ connection: '\${env:REDIS_URL}' })`);
  }
  const raw = options as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(key, `is not an option (known: ${[...KNOWN].join(', ')})`);
  }
  if (typeof raw.connection !== 'string' || raw.connection.trim() === '') {
    // Never echo the value: it may be a URL with a password in it.
    throw invalid('connection', 'must be a redis:// URL or a ${env:NAME} reference to one');
  }
  if (!hasEnvRefs(raw.connection)) parseRedisUrl(raw.connection, 'connection');
  if (raw.queue !== undefined && (typeof raw.queue !== 'string' || !QUEUE_NAME.test(raw.queue))) {
    throw invalid('queue', `must be a name of letters, digits, ".", "_" and "-", got ${describe(raw.queue)}`);
  }
  for (const key of ['concurrency', 'lockDurationMs', 'stalledIntervalMs'] as const) {
    const value = raw[key];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) {
      throw invalid(key, `must be a positive integer, got ${describe(value)}`);
    }
  }
  if (typeof raw.lockDurationMs === 'number' && raw.lockDurationMs < 1000) {
    throw invalid(
      'lockDurationMs',
      `must be at least 1000 (the lock is renewed every half of it), got ${raw.lockDurationMs}`,
    );
  }
  if (raw.allowLocalStorage !== undefined && typeof raw.allowLocalStorage !== 'boolean') {
    throw invalid('allowLocalStorage', `must be a boolean, got ${describe(raw.allowLocalStorage)}`);
  }
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
