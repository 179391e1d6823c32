/**
 * @cairn/deploy-local — the embedded Cairn deployer: a local HTTP model
 * server with blue-green, canary and shadow routes, numbered revisions and
 * rollback, its state kept in the deployer's state folder.
 */
import { CairnError, type DeployerDescriptor, ErrorCodes } from '@cairn/core';
import { LocalDeployer, type LocalDeployerSettings } from './deployer';

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
}

const KNOWN = new Set([
  'host',
  'port',
  'serve',
  'maxBodyBytes',
  'latencyWindow',
  'followIntervalMs',
  'outcomesToken',
]);

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
    latencyWindow = 1000,
    followIntervalMs = 250,
  } = options;
  if (typeof host !== 'string' || host.trim() === '') {
    throw optionsError(`option "host" must be a non-empty string, got ${JSON.stringify(host)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw optionsError(`option "port" must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  if (typeof serve !== 'boolean')
    throw optionsError(`option "serve" must be a boolean, got ${JSON.stringify(serve)}`);
  if (!positiveInteger(maxBodyBytes)) {
    throw optionsError(
      `option "maxBodyBytes" must be a positive integer, got ${JSON.stringify(maxBodyBytes)}`,
    );
  }
  if (!positiveInteger(latencyWindow)) {
    throw optionsError(
      `option "latencyWindow" must be a positive integer, got ${JSON.stringify(latencyWindow)}`,
    );
  }
  // Below 10 ms the stats would be busy work; above an hour a deploy would look lost.
  if (!positiveInteger(followIntervalMs) || followIntervalMs < 10 || followIntervalMs > 3_600_000) {
    throw optionsError(
      `option "followIntervalMs" must be an integer from 10 to 3600000 (ms), got ${JSON.stringify(followIntervalMs)}`,
    );
  }
  const { outcomesToken } = options;
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
    latencyWindow,
    followIntervalMs,
    ...(outcomesToken !== undefined ? { outcomesToken } : {}),
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
