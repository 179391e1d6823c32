/**
 * @cairn/deploy-local — the embedded Cairn deployer: a local HTTP model
 * server with blue-green, canary and shadow routes, numbered revisions and
 * rollback, its state kept in the deployer's state folder.
 */
import { CairnError, type DeployerDescriptor, ErrorCodes } from '@cairn/core';
import { LocalDeployer, type LocalDeployerSettings } from './deployer';
import type { PredictionLogSettings } from './prediction-log';

export {
  listPredictionBatches,
  type PredictionBatch,
  type ServedRow,
  type ServedRowsSource,
  servedRows,
} from './prediction-log';
export { PYTHON_FLAVOR, type PythonLoaderOptions, pythonLoader } from './python';

/** Options of {@link localDeployer}. */
export interface LocalDeployerOptions {
  /**
   * Interface the HTTP server binds to.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port of the HTTP server; `0` picks a free one (see `Deployment.url`).
   * @default 8080
   */
  port?: number;
  /**
   * Start the HTTP server (in `serve` mode; a `control` deployer never
   * does). With `false` the deployer serves only through `predict()`
   * (tests, in-process use).
   * @default true
   */
  serve?: boolean;
  /**
   * Largest request body the predict route accepts, in bytes; larger bodies get HTTP 413.
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Most rows one predict request may hold; more get HTTP 413. A body of small rows under
   * `maxBodyBytes` (`[{},{},…]`) can hold hundreds of thousands, each one a prediction.
   * @default 10000
   */
  maxRows?: number;
  /**
   * Recent requests kept per route for the p50/p95 latency in `health()`.
   * @default 1000
   */
  latencyWindow?: number;
  /**
   * How often a serving deployer looks at the state folder for revisions
   * written by other processes (`cairn deploy`, a pipeline step), in ms.
   * A look is a `stat` per endpoint; a changed file is read, its bundles
   * loaded, and only then does traffic switch.
   * @default 250
   */
  followIntervalMs?: number;
  /**
   * Token that `POST /v1/endpoints/<name>/outcomes` requires as
   * `authorization: Bearer <token>`, usually a reference such as
   * `'${env:CAIRN_OUTCOMES_TOKEN}'` (resolved when the deployer is created,
   * never stored resolved). Without a token, outcomes are taken from
   * loopback clients only: a server bound beyond loopback answers other
   * clients 403 until one is set.
   */
  outcomesToken?: string;
  /**
   * Serve Prometheus metrics at `GET /metrics`: requests, errors and a
   * latency histogram per endpoint, model version and role, model load
   * times, prediction-log counters and the process's own metrics.
   * @default true
   */
  metrics?: boolean;
  /**
   * Log a sampled share of the answered requests (each row, its prediction,
   * the version, role and revision, the unit id) to the project's storage in
   * batches; read them back with {@link servedRows}. Off when absent.
   */
  predictionLog?: PredictionLogOptions;
}

/** Options of the prediction log (see {@link LocalDeployerOptions.predictionLog}). */
export interface PredictionLogOptions {
  /** Share of requests logged, from 0 (exclusive) to 1. @default 1 */
  sample?: number;
  /**
   * Rows per batch written to storage; a batch is also written once it holds 4 MiB. Each write
   * costs about a millisecond of CPU whatever its size (a durable put), so small batches cost
   * more per row. @default 10000
   */
  batchRows?: number;
  /** Waiting rows are written at least this often, in ms. @default 10000 */
  flushIntervalMs?: number;
  /** Most rows held in memory while storage is slow; past it rows are dropped and counted. @default 5 × batchRows */
  maxPendingRows?: number;
}

const KNOWN = new Set([
  'host',
  'port',
  'serve',
  'maxBodyBytes',
  'maxRows',
  'latencyWindow',
  'followIntervalMs',
  'outcomesToken',
  'metrics',
  'predictionLog',
]);
const LOG_KNOWN = new Set(['sample', 'batchRows', 'flushIntervalMs', 'maxPendingRows']);

function predictionLogOf(options: unknown): PredictionLogSettings {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionsError('option "predictionLog" must be an object { sample?, batchRows?, flushIntervalMs? }');
  }
  for (const key of Object.keys(options)) {
    if (!LOG_KNOWN.has(key)) {
      throw optionsError(`unknown option "predictionLog.${key}" (known: ${[...LOG_KNOWN].join(', ')})`);
    }
  }
  const { sample = 1, batchRows = 10_000, flushIntervalMs = 10_000 } = options as PredictionLogOptions;
  if (typeof sample !== 'number' || !(sample > 0 && sample <= 1)) {
    throw optionsError(`option "predictionLog.sample" must be a number in (0, 1], got ${shown(sample)}`);
  }
  if (!positiveInteger(batchRows)) {
    throw optionsError(
      `option "predictionLog.batchRows" must be a positive integer, got ${shown(batchRows)}`,
    );
  }
  if (!positiveInteger(flushIntervalMs) || flushIntervalMs < 10) {
    throw optionsError(
      `option "predictionLog.flushIntervalMs" must be an integer of 10 or more (ms), got ${shown(flushIntervalMs)}`,
    );
  }
  const { maxPendingRows = 5 * batchRows } = options as PredictionLogOptions;
  if (!positiveInteger(maxPendingRows) || maxPendingRows < batchRows) {
    throw optionsError(
      `option "predictionLog.maxPendingRows" must be an integer of at least batchRows (${batchRows}), got ${shown(maxPendingRows)}`,
    );
  }
  return { sample, batchRows, flushIntervalMs, maxPendingRows };
}

/** A refused value as the user wrote it: JSON, but NaN and ±Infinity as themselves (JSON says null). */
function shown(value: unknown): string {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
}

function optionsError(message: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `localDeployer: ${message}`, {
    context: { plugin: 'deploy-local' },
  });
}

const positiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

function settingsOf(options: LocalDeployerOptions): LocalDeployerSettings {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionsError('options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw optionsError(`unknown option "${key}" (known: ${[...KNOWN].join(', ')})`);
  }
  const {
    host = '127.0.0.1',
    port = 8080,
    serve = true,
    maxBodyBytes = 1024 * 1024,
    maxRows = 10_000,
    latencyWindow = 1000,
    followIntervalMs = 250,
  } = options;
  if (typeof host !== 'string' || host.trim() === '') {
    throw optionsError(`option "host" must be a non-empty string, got ${shown(host)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw optionsError(`option "port" must be an integer from 0 to 65535, got ${shown(port)}`);
  }
  if (typeof serve !== 'boolean') throw optionsError(`option "serve" must be a boolean, got ${shown(serve)}`);
  if (!positiveInteger(maxBodyBytes)) {
    throw optionsError(`option "maxBodyBytes" must be a positive integer, got ${shown(maxBodyBytes)}`);
  }
  if (!positiveInteger(maxRows)) {
    throw optionsError(`option "maxRows" must be a positive integer, got ${shown(maxRows)}`);
  }
  if (!positiveInteger(latencyWindow)) {
    throw optionsError(`option "latencyWindow" must be a positive integer, got ${shown(latencyWindow)}`);
  }
  // Below 10 ms the stats would be busy work; above an hour a deploy would look lost.
  if (!positiveInteger(followIntervalMs) || followIntervalMs < 10 || followIntervalMs > 3_600_000) {
    throw optionsError(
      `option "followIntervalMs" must be an integer from 10 to 3600000 (ms), got ${shown(followIntervalMs)}`,
    );
  }
  const { outcomesToken, metrics = true } = options;
  if (typeof metrics !== 'boolean')
    throw optionsError(`option "metrics" must be a boolean, got ${shown(metrics)}`);
  // The length (at least 16, a short token can be guessed) is checked once `${env:…}` is resolved, in create().
  if (outcomesToken !== undefined && (typeof outcomesToken !== 'string' || outcomesToken === '')) {
    // The value itself is never echoed: it may be a secret.
    throw optionsError('option "outcomesToken" must be a non-empty string (a `${env:NAME}` reference)');
  }
  return {
    host,
    port,
    serve,
    maxBodyBytes,
    maxRows,
    latencyWindow,
    followIntervalMs,
    metrics,
    ...(outcomesToken !== undefined ? { outcomesToken } : {}),
    ...(options.predictionLog !== undefined ? { predictionLog: predictionLogOf(options.predictionLog) } : {}),
  };
}

/**
 * The local deployer: serves registered model versions from this machine
 * over HTTP, keeping every endpoint's revisions in
 * `<stateDir>/deployments/<endpoint>.json`. Created in `serve` mode it
 * answers traffic and follows changes other processes write to the state
 * folder; in `control` mode it only changes what is deployed.
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * export default defineConfig({ stack: { deployer: localDeployer({ port: 8080 }) } });
 * ```
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, when the options are invalid
 */
export function localDeployer(options: LocalDeployerOptions = {}): DeployerDescriptor<LocalDeployerOptions> {
  const settings = settingsOf(options);
  return {
    kind: 'deployer',
    name: 'local',
    options: { ...options },
    create: (context) => LocalDeployer.start(settings, context),
  };
}

export default localDeployer;
