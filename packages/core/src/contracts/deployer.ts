/**
 * The deployer contract: serving registered model versions behind named
 * endpoints, and moving traffic between them safely.
 *
 * An endpoint (`penguins`) answers predictions. Behind it are one or more
 * routes, each a registered model version with a share of the traffic and a
 * role:
 *
 * - `primary` — the version that answers most requests;
 * - `canary` — a new version answering `percent` of the units, chosen by a
 *   deterministic hash of the unit id so a user sees one version throughout;
 * - `shadow` — a new version that receives a copy of every request; its
 *   answers are measured and thrown away, never returned.
 *
 * Every change (deploy, traffic change, rollback) makes a new numbered
 * revision, and a deployer keeps the history so that `rollback` restores the
 * previous revision exactly. A new version gets traffic only after it has
 * loaded and answered a health check: a deploy that fails leaves the
 * endpoint's traffic as it was (the blue-green guarantee).
 *
 * Deployers are two-phase (they hold servers and loaded models): the factory
 * in `cairn.config.ts` returns a serializable {@link DeployerDescriptor};
 * whoever deploys (a pipeline step, `cairn` commands, a test) calls `create`
 * with the project's storage and model loaders, and `close` at the end.
 * `testDeployer` in `@cairn/testkit` checks every deployer.
 *
 * @example
 * ```ts
 * // cairn.config.ts
 * export default defineConfig({ stack: { deployer: localDeployer({ port: 8080 }) } });
 * ```
 */
import { join } from 'node:path';
import type { AbTestEngine } from './abtest';
import type { ModelBundle } from './artifact';
import type { Digest, StorageDriver } from './storage';

/** One registered model version, as the registry names it. */
export interface ModelVersionRef {
  /** Registered model name (`penguins-classifier`). */
  model: string;
  /** Registry version number, 1 and up. */
  version: number;
  /** Digest of the model bundle artifact in storage. */
  digest: Digest;
}

/** A loaded model that answers predictions. */
export interface Predictor {
  /**
   * One prediction per row, in order. Throwing a `CairnError` with code
   * `CAIRN_DATA_INVALID` marks the request as bad input (HTTP 400), any other
   * error as a server failure (HTTP 500).
   */
  predict(rows: readonly unknown[]): unknown[] | Promise<unknown[]>;
  /** Release what the model holds (native sessions, worker threads). */
  close?(): void | Promise<void>;
}

/**
 * Makes a stored bundle servable. Bundles name their `flavor` in their
 * manifest; the project maps each flavor it trains to a loader (the same
 * function its tests use to serve the bundle without the training code).
 */
export type ModelLoader = (bundle: ModelBundle) => Predictor | Promise<Predictor>;

/** How a new version reaches traffic. */
export type RolloutStrategy =
  /** Load and health-check the new version, then switch all traffic at once; the old one stays loaded until the next change so a rollback is instant. */
  | { type: 'blue-green' }
  /** The new version answers `percent` (1–99) of the units; the primary keeps the rest. */
  | { type: 'canary'; percent: number }
  /** The new version gets a copy of every request; only the primary answers. */
  | { type: 'shadow' };

/** What `deploy` is asked to do. */
export interface DeployRequest {
  /** Endpoint name: lowercase letters, digits and dashes, starting with a letter, at most 63 characters. */
  endpoint: string;
  model: ModelVersionRef;
  /** @default { type: 'blue-green' } */
  strategy?: RolloutStrategy;
  /** Why, kept in the revision history (`promoted by gate in run …`). */
  reason?: string;
  /** Rows the new version must answer before it gets any traffic. Without them the health check is loading the model. */
  healthCheckRows?: readonly unknown[];
  /** A staging endpoint (a load test's candidate): answered only through `serveEndpoint`, never by a serving process. */
  staging?: boolean;
}

/** One version behind an endpoint. */
export interface TrafficRoute {
  model: ModelVersionRef;
  role: 'primary' | 'canary' | 'shadow';
  /** Share of the units it answers, in percent. Live routes sum to 100; a shadow's weight is 0. */
  weight: number;
}

/** An endpoint at one revision. */
export interface Deployment {
  endpoint: string;
  /** 1 for the first deploy, +1 for every change. */
  revision: number;
  routes: TrafficRoute[];
  /** Where the endpoint answers HTTP, when the deployer serves HTTP. */
  url?: string;
  /** ISO-8601 time of the change that made this revision. */
  updatedAt: string;
  /** What made this revision: `deploy`, `traffic`, `promote`, `rollback`. */
  change: 'deploy' | 'traffic' | 'promote' | 'rollback';
  reason?: string;
  /** Deployed with `staging` (kept by later changes): no serving process answers it. */
  staging?: boolean;
}

/** The answer to one prediction request. */
export interface PredictResult {
  predictions: unknown[];
  /** The version that answered. */
  served: ModelVersionRef;
  role: 'primary' | 'canary';
  revision: number;
}

/** Live state of each route: loaded, answering, how fast. */
export interface EndpointHealth {
  endpoint: string;
  /** `healthy`: every route is ready; `degraded`: a canary or shadow is not; `unavailable`: the primary is not. */
  status: 'healthy' | 'degraded' | 'unavailable';
  revision: number;
  routes: Array<{
    model: ModelVersionRef;
    role: TrafficRoute['role'];
    ready: boolean;
    /** Requests answered (or shadowed) since the deployer started. */
    requests: number;
    /** Requests that failed with a server error. */
    errors: number;
    /** Median and 95th percentile latency in ms over recent requests; absent before the first one. */
    latencyMs?: { p50: number; p95: number };
    /** Why it is not ready. */
    error?: string;
  }>;
}

/** One answer an endpoint served, as its prediction log keeps it. */
export interface ServedRow {
  /** ISO-8601 time the prediction was answered. */
  at: string;
  endpoint: string;
  model: string;
  version: number;
  role: 'primary' | 'canary';
  revision: number;
  unitId?: string;
  /** The row as the client sent it. */
  row: unknown;
  prediction: unknown;
}

/** A live deployer. */
export interface Deployer {
  /**
   * Load the version, check it answers, then route traffic to it by the
   * strategy. Deploying the version that is already the sole primary is a
   * no-op that returns the current revision.
   * @throws CAIRN_DEPLOY_INVALID for a bad endpoint name, strategy or model reference (nothing changes)
   * @throws CAIRN_DEPLOY_FAILED when the bundle cannot be loaded or fails its health check (traffic stays as it was)
   */
  deploy(request: DeployRequest): Promise<Deployment>;
  /**
   * Set the live split by version number, e.g. `{ 3: 90, 4: 10 }`. Every
   * version must already be a live route; weights are integers summing to
   * 100; the largest weight becomes the primary (the lower version on a tie),
   * a version given 0 leaves the endpoint.
   * @throws CAIRN_DEPLOY_INVALID, CAIRN_DEPLOYMENT_NOT_FOUND
   */
  setTraffic(
    endpoint: string,
    split: Record<number, number>,
    options?: { reason?: string },
  ): Promise<Deployment>;
  /**
   * Make the canary or shadow the sole primary (100 %); the old primary leaves.
   * @throws CAIRN_DEPLOY_INVALID when there is no canary or shadow, CAIRN_DEPLOYMENT_NOT_FOUND
   */
  promote(endpoint: string, options?: { reason?: string }): Promise<Deployment>;
  /**
   * Restore the routes of the revision before the latest one, as a new
   * revision.
   * @throws CAIRN_DEPLOY_INVALID when there is nothing to roll back to, CAIRN_DEPLOYMENT_NOT_FOUND
   */
  rollback(endpoint: string, options?: { reason?: string }): Promise<Deployment>;
  /**
   * Answer rows the way the endpoint's HTTP route does. With a `unitId` the
   * canary choice is a deterministic hash of it; without one it is random.
   * @throws CAIRN_DEPLOYMENT_NOT_FOUND, CAIRN_DATA_INVALID (bad rows), CAIRN_DEPLOY_FAILED (the model failed)
   */
  predict(endpoint: string, rows: readonly unknown[], options?: { unitId?: string }): Promise<PredictResult>;
  /** The endpoint's current revision, `undefined` when it does not exist. */
  status(endpoint: string): Promise<Deployment | undefined>;
  /** Every revision of the endpoint, oldest first; empty when it does not exist. */
  history(endpoint: string): Promise<Deployment[]>;
  /** Current revision of every endpoint, by name. */
  list(): Promise<Deployment[]>;
  /** @throws CAIRN_DEPLOYMENT_NOT_FOUND */
  health(endpoint: string): Promise<EndpointHealth>;
  /**
   * Answer one endpoint over HTTP from this process, on a private loopback port of its own, apart
   * from any serving process: a load test replays traffic at a staging endpoint through it, so what
   * it measures is the deployer's real request path. Optional: a deployer whose serving lives
   * elsewhere (a cluster) leaves it out, and a load test is then refused.
   * @returns the endpoint's URL (its `POST <url>/predict` takes `{ rows }`) and a way to stop
   * @throws CAIRN_DEPLOYMENT_NOT_FOUND
   */
  serveEndpoint?(endpoint: string): Promise<{ url: string; close(): Promise<void> }>;
  /**
   * The answers the endpoint served and logged (a serving process's sampled prediction log), oldest
   * first: what a monitoring step compares with the training data. Optional: a deployer that logs
   * no predictions leaves it out.
   */
  servedRows?(endpoint: string, options?: { version?: number; since?: string | Date }): Promise<ServedRow[]>;
  /** Stop serving the endpoint and forget its history. */
  remove(endpoint: string): Promise<void>;
  /** Stop servers, unload models. State that persists stays for the next `create`. */
  close(): Promise<void>;
}

/** What `create` receives. */
export interface DeployerContext {
  /** Where the model bundles are stored. */
  storage: StorageDriver;
  /** Loaders by bundle flavor; a bundle of another flavor cannot be deployed. */
  loaders: Record<string, ModelLoader>;
  /** A folder the deployer may keep its state in (revisions, unpacked bundles). */
  stateDir: string;
  /**
   * `serve`: this process answers traffic (a model server such as `cairn
   * serve`). `control`: it only changes what is deployed (a pipeline step,
   * `cairn deploy`) and starts no server; a serving process follows the
   * change. Deployers whose serving lives elsewhere (a cluster) treat both
   * alike.
   * @default 'serve'
   */
  mode?: 'serve' | 'control';
  /**
   * The stack's A/B engine, when it has one. While an endpoint has a canary,
   * a serving deployer records an exposure in the canary's experiment
   * ({@link canaryExperimentFor}) for every unit it answers, so the canary
   * can be judged as an A/B test; deployers that serve HTTP also take the
   * units' outcomes there.
   */
  experiments?: AbTestEngine;
}

/** The experiment that judges an endpoint's current canary, and the two routes it compares. */
export interface CanaryExperiment {
  /** `<endpoint>-canary-r<revision>`: the revision that put the canary at its current share. */
  name: string;
  canary: TrafficRoute;
  primary: TrafficRoute;
}

/**
 * The A/B experiment that judges an endpoint's current canary, read from the
 * endpoint's revisions (oldest first). It is named after the revision that
 * put this canary at this share beside this primary, so a new canary — or
 * the same one at a new share, or again after a rollback — is a new
 * experiment: an experiment's split must not change while it runs. The
 * deploy step creates it (seed = the endpoint name, variants `v<canary>` and
 * `v<primary>`, so its assignment is the deployer's canary routing); serving
 * deployers record its exposures; the canary review step analyzes it.
 * @returns undefined when the latest revision has no canary
 */
export function canaryExperimentFor(history: readonly Deployment[]): CanaryExperiment | undefined {
  const latest = history.at(-1);
  const canary = latest?.routes.find((r) => r.role === 'canary');
  const primary = latest?.routes.find((r) => r.role === 'primary');
  if (!latest || !canary || !primary) return undefined;
  const same = (d: Deployment) =>
    d.routes.some(
      (r) => r.role === 'canary' && r.model.digest === canary.model.digest && r.weight === canary.weight,
    ) && d.routes.some((r) => r.role === 'primary' && r.model.digest === primary.model.digest);
  let since = latest.revision;
  for (let i = history.length - 2; i >= 0 && same(history[i]!); i--) since = history[i]!.revision;
  return { name: `${latest.endpoint}-canary-r${since}`, canary, primary };
}

/** The serializable thing a factory returns: name, options, and how to start it. */
export interface DeployerDescriptor<Options = unknown> {
  readonly kind: 'deployer';
  /** `'local'`, `'kserve'`… */
  readonly name: string;
  readonly options: Options;
  create(context: DeployerContext): Deployer | Promise<Deployer>;
}

/** Endpoint names: they become URL path segments and file names. */
export const ENDPOINT_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Where a project's deployer keeps its state: every process that opens it —
 * a run's deploy step, `cairn serve`, `cairn endpoints` — must agree, or a
 * server would not see what a run deployed.
 */
export function deployerStateDir(stateDir: string): string {
  return join(stateDir, 'deploy');
}
