import {
  CairnError,
  canaryExperimentFor,
  type Deployer,
  type DeployerContext,
  type Deployment,
  type DeployRequest,
  ENDPOINT_NAME,
  type EndpointHealth,
  ErrorCodes,
  isDigest,
  type ModelBundle,
  type ModelVersionRef,
  type Predictor,
  type PredictResult,
  type RolloutStrategy,
  resolveEnvRefs,
  type TrafficRoute,
} from '@cairn/core';
import { bucketRanges, chooseBucket, hashToUnit } from '@cairn/stats';
import { BundleMissing, openBundle } from './bundles';
import { OutcomeLedger } from './ledger';
import { withEndpointLock } from './lock';
import { createMetrics, type ServingMetrics } from './metrics';
import { PredictionLog, type PredictionLogSettings } from './prediction-log';
import { startServer } from './server';
import {
  listEndpoints,
  readEndpointFile,
  removeEndpointFile,
  stateSignature,
  writeEndpointFile,
} from './state';

/** An outcome for the canary's experiment, as the outcomes route takes it. */
export interface OutcomeRequest {
  unitId: string;
  value: number;
  metric?: string;
  /** Deduplication key: required, so that a client's retry never counts twice. */
  eventId: string;
}

/** What the outcomes route answers: recorded now, or a replay of an event id taken before. */
export type OutcomeAnswer =
  | { recorded: true; experiment: string; metric: string }
  | { recorded: false; duplicate: true; experiment: string; metric: string };

/** Resolved options of the local deployer. */
export interface LocalDeployerSettings {
  host: string;
  port: number;
  serve: boolean;
  maxBodyBytes: number;
  latencyWindow: number;
  followIntervalMs: number;
  /** Bearer token the outcomes route requires; without one, outcomes are taken from loopback only. */
  outcomesToken?: string;
  /** Serve Prometheus metrics at `/metrics`. */
  metrics: boolean;
  /** Log a sampled share of the answered requests to storage; off without it. */
  predictionLog?: PredictionLogSettings;
}

interface LoadedModel {
  promise: Promise<Predictor>;
  predictor?: Predictor;
  /** Predictions running on it: a retired model is closed only once they finish. */
  inflight: number;
  retired: boolean;
}

interface RouteStats {
  requests: number;
  errors: number;
  latencies: number[];
  next: number;
}

const invalid = (message: string) => new CairnError(ErrorCodes.DEPLOY_INVALID, message);
const notFound = (endpoint: string) =>
  new CairnError(
    ErrorCodes.DEPLOYMENT_NOT_FOUND,
    `no endpoint named ${JSON.stringify(endpoint)} is deployed`,
  );
const describeRef = (ref: ModelVersionRef) => `${ref.model} version ${ref.version}`;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const routeKey = (ref: ModelVersionRef) => `${ref.model}@${ref.version}#${ref.digest}`;
const copyRef = (ref: ModelVersionRef): ModelVersionRef => ({
  model: ref.model,
  version: ref.version,
  digest: ref.digest,
});
const sameRef = (a: ModelVersionRef, b: ModelVersionRef) =>
  a.model === b.model && a.version === b.version && a.digest === b.digest;
const sameRoutes = (a: TrafficRoute[], b: TrafficRoute[]) =>
  a.length === b.length &&
  a.every(
    (route, i) =>
      sameRef(route.model, b[i]!.model) && route.role === b[i]!.role && route.weight === b[i]!.weight,
  );

/**
 * Which live route answers a unit, GrowthBook's way: the unit's point is
 * `hashToUnit(endpoint, unitId, 2)` (seed = endpoint name, hash version 2)
 * and the routes own consecutive slices of [0, 1) in the order canaries,
 * then primary, each `weight / 100` wide. With one canary at p % that is a
 * GrowthBook experiment with seed `<endpoint>`, coverage 1 and variants
 * [canary, primary] weighted [p/100, 1 − p/100], so an A/B engine can
 * analyse the canary; canaries take the low end, so raising a canary's share
 * keeps the units it already had. Without a unit id the point is random.
 */
export function routeIndex(endpoint: string, weights: readonly number[], unitId: string | undefined): number {
  const point = unitId === undefined ? Math.random() : hashToUnit(endpoint, unitId, 2);
  // Weights as fractions that sum to 1 are used as given, exactly as GrowthBook's getBucketRanges.
  return chooseBucket(point, bucketRanges(weights.map((weight) => weight / 100)));
}

function checkRequest(request: DeployRequest): { strategy: RolloutStrategy; model: ModelVersionRef } {
  if (typeof request !== 'object' || request === null) throw invalid('deploy: expected a request object');
  const { endpoint, model, strategy = { type: 'blue-green' } } = request;
  if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) {
    throw invalid(
      `endpoint name ${JSON.stringify(endpoint)} is not valid: use lowercase letters, digits and dashes, starting with a letter, at most 63 characters`,
    );
  }
  if (typeof model !== 'object' || model === null)
    throw invalid(`endpoint ${endpoint}: "model" must be an object`);
  if (typeof model.model !== 'string' || model.model === '') {
    throw invalid(`endpoint ${endpoint}: model.model must be a non-empty model name`);
  }
  if (!Number.isInteger(model.version) || model.version < 1) {
    throw invalid(
      `endpoint ${endpoint}: model.version must be an integer of 1 or more, got ${model.version}`,
    );
  }
  if (!isDigest(model.digest)) {
    throw invalid(
      `endpoint ${endpoint}: model.digest ${JSON.stringify(model.digest)} is not a sha256 digest`,
    );
  }
  const type = (strategy as { type?: unknown })?.type;
  if (type === 'canary') {
    const { percent } = strategy as { percent: unknown };
    if (!Number.isInteger(percent) || (percent as number) < 1 || (percent as number) > 99) {
      throw invalid(`endpoint ${endpoint}: canary percent must be an integer from 1 to 99, got ${percent}`);
    }
  } else if (type !== 'blue-green' && type !== 'shadow') {
    throw invalid(
      `endpoint ${endpoint}: unknown strategy ${JSON.stringify(type)} (expected blue-green, canary or shadow)`,
    );
  }
  if (request.reason !== undefined && typeof request.reason !== 'string') {
    throw invalid(`endpoint ${endpoint}: reason must be a string`);
  }
  if (request.healthCheckRows !== undefined && !Array.isArray(request.healthCheckRows)) {
    throw invalid(`endpoint ${endpoint}: healthCheckRows must be an array of rows`);
  }
  return { strategy, model: copyRef(model) };
}

/** Percentile of sorted values, nearest rank. */
function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** The endpoint's state file as last read: its signature and revisions. */
interface Known {
  signature: string;
  revisions: Deployment[];
}

/** A revision a serving deployer could not switch to: it keeps the one before. */
interface Stalled {
  key: string;
  error: string;
  retryAt: number;
}

/** A stalled revision is tried again after this long (a storage hiccup heals without a new deploy). */
const STALLED_RETRY_MS = 5000;
/** Identifies a revision across remove and redeploy, which restarts numbering at 1. */
const keyOf = (deployment: Deployment) => `${deployment.revision}@${deployment.updatedAt}`;
const notLive = (endpoint: string, why: string) =>
  new CairnError(ErrorCodes.DEPLOY_FAILED, `endpoint ${endpoint} is not live in this server: ${why}`);

export class LocalDeployer implements Deployer {
  /** What the state folder holds, refreshed by signature (stat) before every read. */
  private readonly known = new Map<string, Known>();
  /**
   * Reads are ticketed when they start; an entry is replaced only by a read
   * (or write) with a later ticket, so a slow read that began before a newer
   * write can never put an older revision back.
   */
  private ticket = 0;
  private readonly tickets = new Map<string, number>();
  /** Serve mode: the revision answering traffic, which trails `known` while new bundles load. */
  private readonly live = new Map<string, Deployment>();
  private readonly stalled = new Map<string, Stalled>();
  private readonly activating = new Map<string, Promise<void>>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly models = new Map<string, LoadedModel>();
  private readonly loadErrors = new Map<string, string>();
  /** Digests a change in progress is loading: not to be unloaded under it. */
  private readonly pins = new Map<string, number>();
  private readonly stats = new Map<string, Map<string, RouteStats>>();
  /** Canary experiment name by endpoint@revision ('' when the revision has none). */
  private readonly experiments = new Map<string, string>();
  private readonly serving: boolean;
  private readonly ledger: OutcomeLedger;
  /** Exposures recorded off the request's path, not finished yet. */
  private readonly exposing = new Set<Promise<void>>();
  /** Serve mode with `metrics: true`: what `/metrics` shows. */
  private metrics: ServingMetrics | undefined;
  /** Serve mode with `predictionLog`: the sampled requests on their way to storage. */
  private predictionLog: PredictionLog | undefined;
  private baseUrl: string | undefined;
  private closeServer: (() => Promise<void>) | undefined;
  private followTimer: NodeJS.Timeout | undefined;
  private following: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly settings: LocalDeployerSettings,
    private readonly context: DeployerContext,
  ) {
    this.serving = (context.mode ?? 'serve') === 'serve';
    this.ledger = new OutcomeLedger(context.stateDir);
  }

  /**
   * Serve mode: restore every endpoint from the state folder, load its live
   * bundles, start the HTTP server and follow the folder. Control mode:
   * read nothing up front and open no port.
   */
  static async start(settings: LocalDeployerSettings, context: DeployerContext): Promise<LocalDeployer> {
    if (typeof context?.stateDir !== 'string' || context.stateDir === '') {
      throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, 'local deployer: create() needs a stateDir');
    }
    if (typeof context.storage?.get !== 'function') {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        'local deployer: create() needs a storage driver',
      );
    }
    if (typeof context.loaders !== 'object' || context.loaders === null) {
      throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, 'local deployer: create() needs a loaders map');
    }
    if (context.mode !== undefined && context.mode !== 'serve' && context.mode !== 'control') {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        `local deployer: create() mode must be "serve" or "control", got ${JSON.stringify(context.mode)}`,
      );
    }
    // Resolved here, not in the factory: the descriptor keeps the `${env:…}` reference, never the secret.
    const token = settings.outcomesToken === undefined ? undefined : resolveEnvRefs(settings.outcomesToken);
    if (token !== undefined && token.length < 16) {
      throw new CairnError(
        ErrorCodes.PLUGIN_OPTIONS_INVALID,
        'local deployer: outcomesToken must be at least 16 characters (a short token can be guessed)',
      );
    }
    const deployer = new LocalDeployer(
      token === undefined ? settings : { ...settings, outcomesToken: token },
      context,
    );
    // A damaged state file stops create() in both modes, naming the file.
    for (const endpoint of await listEndpoints(context.stateDir)) await deployer.refresh(endpoint);
    if (!deployer.serving) {
      const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
      // Where a serving process with these options answers; unknowable for port 0.
      if (settings.port !== 0) deployer.baseUrl = `http://${host}:${settings.port}`;
      return deployer;
    }
    if (settings.metrics) deployer.metrics = await createMetrics();
    if (settings.predictionLog) {
      deployer.predictionLog = new PredictionLog(
        context.storage,
        context.stateDir,
        settings.predictionLog,
        deployer.metrics,
      );
    }
    for (const [endpoint, { revisions }] of deployer.known) deployer.live.set(endpoint, revisions.at(-1)!);
    // A bundle that no longer loads does not stop the others: health reports it, requests retry it.
    await Promise.allSettled(
      [...deployer.live.values()].flatMap((current) =>
        current.routes.map((route) => deployer.acquire(route.model)),
      ),
    );
    if (settings.serve) {
      try {
        const server = await startServer(deployer, deployer.settings);
        deployer.baseUrl = server.url;
        deployer.closeServer = server.close;
      } catch (error) {
        await deployer.close();
        throw error;
      }
    }
    deployer.followTimer = setInterval(() => {
      // One pass at a time: a slow load must not stack passes up.
      if (deployer.following || deployer.closed) return;
      deployer.following = deployer.follow().finally(() => {
        deployer.following = undefined;
      });
    }, settings.followIntervalMs);
    deployer.followTimer.unref();
    return deployer;
  }

  // -------------------------------------------------------------------------
  // changes

  async deploy(request: DeployRequest): Promise<Deployment> {
    const { strategy, model } = checkRequest(request);
    const { endpoint } = request;
    return this.mutate(endpoint, async (revisions) => {
      const current = revisions?.at(-1);
      if (
        current &&
        strategy.type === 'blue-green' &&
        current.routes.length === 1 &&
        sameRef(current.routes[0]!.model, model)
      ) {
        return this.present(current);
      }
      let routes: TrafficRoute[];
      if (strategy.type === 'blue-green') {
        routes = [{ model, role: 'primary', weight: 100 }];
      } else {
        if (!current) {
          throw invalid(
            `endpoint ${endpoint} has no primary yet: deploy a first version blue-green before a ${strategy.type}`,
          );
        }
        // The new route replaces a route of its own role; the others stay.
        const kept = current.routes.filter((route) => route.role !== strategy.type);
        const clash = kept.find((route) => route.model.version === model.version);
        if (clash) {
          throw invalid(`endpoint ${endpoint}: version ${model.version} is already its ${clash.role}`);
        }
        if (strategy.type === 'canary') {
          const primary = kept.find((route) => route.role === 'primary')!;
          routes = [
            { model: copyRef(primary.model), role: 'primary', weight: 100 - strategy.percent },
            { model, role: 'canary', weight: strategy.percent },
            ...kept.filter((route) => route.role === 'shadow'),
          ];
        } else {
          routes = [...kept, { model, role: 'shadow', weight: 0 }];
        }
      }
      return this.change(endpoint, revisions, routes, 'deploy', request.reason, async () => {
        const predictor = await this.acquire(model);
        if (request.healthCheckRows) await this.healthCheck(predictor, model, request.healthCheckRows);
      });
    });
  }

  async setTraffic(
    endpoint: string,
    split: Record<number, number>,
    options: { reason?: string } = {},
  ): Promise<Deployment> {
    return this.mutate(endpoint, async (revisions) => {
      const current = revisions?.at(-1);
      if (!current) throw notFound(endpoint);
      if (typeof split !== 'object' || split === null || Array.isArray(split)) {
        throw invalid(`endpoint ${endpoint}: the split must map version numbers to weights`);
      }
      const live = current.routes.filter((route) => route.role !== 'shadow');
      const liveVersions = live.map((route) => route.model.version).join(', ');
      const entries = Object.entries(split).map(([key, weight]) => {
        const route = live.find((r) => String(r.model.version) === key);
        if (!route) {
          throw invalid(
            `endpoint ${endpoint}: version ${key} is not a live route (live versions: ${liveVersions})`,
          );
        }
        if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
          throw invalid(
            `endpoint ${endpoint}: weight of version ${key} must be an integer from 0 to 100, got ${weight}`,
          );
        }
        return { route, weight };
      });
      const total = entries.reduce((sum, entry) => sum + entry.weight, 0);
      if (total !== 100) throw invalid(`endpoint ${endpoint}: weights sum to ${total}, not 100`);
      const ranked = entries
        .filter((entry) => entry.weight > 0)
        .sort((a, b) => b.weight - a.weight || a.route.model.version - b.route.model.version);
      const routes: TrafficRoute[] = [
        ...ranked.map(
          ({ route, weight }, i): TrafficRoute => ({
            model: copyRef(route.model),
            role: i === 0 ? 'primary' : 'canary',
            weight,
          }),
        ),
        ...current.routes.filter((route) => route.role === 'shadow'),
      ];
      if (sameRoutes(routes, current.routes)) return this.present(current);
      return this.change(endpoint, revisions, routes, 'traffic', options.reason);
    });
  }

  async promote(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.mutate(endpoint, async (revisions) => {
      const current = revisions?.at(-1);
      if (!current) throw notFound(endpoint);
      const canary = current.routes
        .filter((route) => route.role === 'canary')
        .sort((a, b) => b.weight - a.weight)[0];
      const target = canary ?? current.routes.find((route) => route.role === 'shadow');
      if (!target) throw invalid(`endpoint ${endpoint} has no canary or shadow to promote`);
      const routes: TrafficRoute[] = [
        { model: copyRef(target.model), role: 'primary', weight: 100 },
        ...(target.role === 'canary' ? current.routes.filter((route) => route.role === 'shadow') : []),
      ];
      return this.change(endpoint, revisions, routes, 'promote', options.reason);
    });
  }

  async rollback(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.mutate(endpoint, async (revisions) => {
      if (!revisions) throw notFound(endpoint);
      const previous = revisions.at(-2);
      if (!previous)
        throw invalid(`endpoint ${endpoint} has only one revision: there is nothing to roll back to`);
      const routes = previous.routes.map((route) => ({ ...route, model: copyRef(route.model) }));
      return this.change(endpoint, revisions, routes, 'rollback', options.reason, async () => {
        await Promise.all(routes.map((route) => this.acquire(route.model)));
      });
    });
  }

  async remove(endpoint: string): Promise<void> {
    if (!ENDPOINT_NAME.test(endpoint)) return;
    await this.mutate(endpoint, async (revisions) => {
      if (!revisions) return;
      await removeEndpointFile(this.context.stateDir, endpoint);
      this.forget(endpoint);
      this.collect();
    });
  }

  // -------------------------------------------------------------------------
  // serving

  async predict(
    endpoint: string,
    rows: readonly unknown[],
    options: { unitId?: string } = {},
  ): Promise<PredictResult> {
    if (this.closed) throw new CairnError(ErrorCodes.DEPLOY_FAILED, 'the local deployer is closed');
    if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) throw notFound(endpoint);
    const deployment = this.serving
      ? await this.liveRevision(endpoint)
      : (await this.refresh(endpoint))?.at(-1);
    if (!deployment) throw notFound(endpoint);
    if (!Array.isArray(rows)) throw new CairnError(ErrorCodes.DATA_INVALID, 'rows must be an array');
    const route = this.pick(endpoint, deployment, options.unitId);
    const stats = this.statsFor(endpoint, route.model);
    const metrics = this.metrics?.route(endpoint, route.model, route.role);
    const started = performance.now();
    let predictions: unknown[];
    try {
      predictions = await this.run(route.model, rows);
    } catch (error) {
      stats.requests++;
      const badInput = CairnError.is(error) && error.code === ErrorCodes.DATA_INVALID;
      metrics?.observe((performance.now() - started) / 1000, !badInput);
      if (badInput) throw error;
      stats.errors++;
      throw error;
    }
    const elapsed = performance.now() - started;
    stats.requests++;
    this.record(stats, elapsed);
    metrics?.observe(elapsed / 1000, false);
    const role = route.role === 'canary' ? 'canary' : 'primary';
    this.predictionLog?.offer({
      endpoint,
      model: route.model.model,
      version: route.model.version,
      role,
      revision: deployment.revision,
      ...(options.unitId !== undefined ? { unitId: options.unitId } : {}),
      rows,
      predictions,
    });
    if (options.unitId !== undefined) this.recordExposure(endpoint, deployment, options.unitId);
    for (const shadow of deployment.routes) {
      // After the answer, off the request's path: a shadow never delays or fails it.
      if (shadow.role === 'shadow') setImmediate(() => void this.runShadow(endpoint, shadow.model, rows));
    }
    return { predictions, served: copyRef(route.model), role, revision: deployment.revision };
  }

  /**
   * While the endpoint has a canary and the stack has an A/B engine: the
   * unit saw its arm of the canary's experiment. Off the request's path, and
   * a failure (no experiment: the canary was deployed without an engine)
   * never fails the prediction.
   */
  private recordExposure(endpoint: string, deployment: Deployment, unitId: string): void {
    const engine = this.context.experiments;
    if (!engine || !deployment.routes.some((route) => route.role === 'canary')) return;
    const work = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.experimentOf(endpoint, deployment))
      .then((experiment) =>
        experiment
          ? this.ledger.expose(experiment, unitId, () => engine.recordExposure(experiment, unitId))
          : undefined,
      )
      .catch(() => {})
      .finally(() => this.exposing.delete(work));
    this.exposing.add(work);
  }

  /**
   * The canary experiment of the revision serving (see canaryExperimentFor),
   * read from the endpoint's history once per revision, not per request.
   */
  private async experimentOf(endpoint: string, deployment: Deployment): Promise<string | undefined> {
    const key = `${endpoint}@${keyOf(deployment)}`;
    let name = this.experiments.get(key);
    if (name === undefined) {
      const history = await this.history(endpoint);
      const served = history.findIndex((d) => keyOf(d) === keyOf(deployment));
      name = canaryExperimentFor(served < 0 ? [deployment] : history.slice(0, served + 1))?.name ?? '';
      this.experiments.set(key, name);
    }
    return name || undefined;
  }

  /**
   * An outcome of a unit served by the endpoint's canary experiment (what
   * `POST /v1/endpoints/<name>/outcomes` takes). Each `eventId` counts once:
   * a replay answers `recorded: false, duplicate: true` and changes nothing.
   * @throws CAIRN_EXPERIMENT_NOT_FOUND when there is no engine, no canary, or no experiment for it
   * @throws CAIRN_EXPERIMENT_INVALID for a unit this endpoint never exposed in the experiment, or a value the experiment's metric refuses
   */
  async recordOutcome(endpoint: string, outcome: OutcomeRequest): Promise<OutcomeAnswer> {
    const engine = this.context.experiments;
    if (!engine) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_NOT_FOUND,
        'this server has no A/B engine: add one to the stack (cairn add abtest-local) to judge canaries by outcomes',
      );
    }
    const history = await this.history(endpoint);
    if (history.length === 0) throw notFound(endpoint);
    const judged = canaryExperimentFor(history);
    if (!judged)
      throw new CairnError(ErrorCodes.EXPERIMENT_NOT_FOUND, `endpoint ${endpoint} has no canary to judge`);
    const experiment = judged.name;
    const definition = await engine.getExperiment(experiment);
    if (!definition) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_NOT_FOUND,
        `endpoint ${endpoint}'s canary v${judged.canary.model.version} has no experiment ${experiment} (deploy it with an A/B engine in the stack)`,
      );
    }
    const metric = outcome.metric ?? definition.primaryMetric.name;
    // An outcome for a unit never served here would be credited to the arm its hash names: a forged vote.
    let exposed = await this.ledger.wasExposed(experiment, outcome.unitId);
    if (!exposed && this.exposing.size > 0) {
      // Its prediction may have been answered a moment ago, the exposure still on its way.
      await Promise.all(this.exposing);
      exposed = await this.ledger.wasExposed(experiment, outcome.unitId);
    }
    if (!exposed) {
      throw new CairnError(
        ErrorCodes.EXPERIMENT_INVALID,
        `unit ${JSON.stringify(outcome.unitId)} was never exposed in ${experiment}: send its predictions with this unitId first`,
        { context: { outcome: 'unit-not-exposed' } },
      );
    }
    const recorded = await this.ledger.takeEvent(experiment, outcome.eventId, () =>
      engine.recordOutcome(experiment, outcome.unitId, metric, outcome.value, { eventId: outcome.eventId }),
    );
    return recorded
      ? { recorded: true, experiment, metric }
      : { recorded: false, duplicate: true, experiment, metric };
  }

  async status(endpoint: string): Promise<Deployment | undefined> {
    const current = (await this.refresh(endpoint))?.at(-1);
    return current && this.present(current);
  }

  async history(endpoint: string): Promise<Deployment[]> {
    return ((await this.refresh(endpoint)) ?? []).map((revision) => this.present(revision));
  }

  async list(): Promise<Deployment[]> {
    const ticket = ++this.ticket;
    const names = await listEndpoints(this.context.stateDir);
    for (const endpoint of [...this.known.keys()]) {
      if (!names.includes(endpoint)) this.remember(endpoint, ticket, undefined);
    }
    const current: Deployment[] = [];
    for (const endpoint of names) {
      const revision = (await this.refresh(endpoint))?.at(-1);
      if (revision) current.push(this.present(revision));
    }
    return current;
  }

  /**
   * The health of the endpoint's current revision on disk. A serving
   * deployer that still answers with an older revision (the new one is
   * loading, or failed to load) reports `degraded` while its old primary
   * answers, and names the failure on the routes that are not ready.
   */
  async health(endpoint: string): Promise<EndpointHealth> {
    const current = (await this.refresh(endpoint))?.at(-1);
    if (!current) throw notFound(endpoint);
    if (!this.serving) {
      // A control process keeps nothing loaded up front: load to tell whether the bundles serve.
      await Promise.allSettled(current.routes.map((route) => this.acquire(route.model)));
    }
    const active = this.serving ? this.live.get(endpoint) : current;
    const stalled = this.stalled.get(endpoint);
    const behind = active === undefined || keyOf(active) !== keyOf(current);
    const routes = current.routes.map((route) => {
      const loaded = this.models.get(route.model.digest);
      const ready = loaded?.predictor !== undefined;
      const stats = this.statsFor(endpoint, route.model);
      const recent = stats.latencies.slice().sort((a, b) => a - b);
      const error =
        this.loadErrors.get(route.model.digest) ??
        (stalled?.key === keyOf(current) ? stalled.error : loaded ? 'still loading' : 'not loaded');
      return {
        model: copyRef(route.model),
        role: route.role,
        ready,
        requests: stats.requests,
        errors: stats.errors,
        ...(recent.length > 0
          ? { latencyMs: { p50: percentile(recent, 50), p95: percentile(recent, 95) } }
          : {}),
        ...(ready ? {} : { error }),
      };
    });
    const primaryReady = routes.find((route) => route.role === 'primary')?.ready ?? false;
    const activePrimary = active?.routes.find((route) => route.role === 'primary');
    const oldServes = activePrimary !== undefined && this.models.get(activePrimary.model.digest)?.predictor;
    const status = primaryReady
      ? routes.every((route) => route.ready) && !behind
        ? 'healthy'
        : 'degraded'
      : behind && oldServes
        ? 'degraded'
        : 'unavailable';
    return { endpoint, status, revision: current.revision, routes };
  }

  /** What `GET /metrics` answers (Prometheus text format); `undefined` when metrics are off. */
  async renderMetrics(): Promise<{ contentType: string; text: string } | undefined> {
    return this.metrics?.render();
  }

  /** Write the sampled predictions waiting in memory to storage now. */
  async flushPredictionLog(): Promise<void> {
    await this.predictionLog?.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.followTimer);
    await this.following;
    await Promise.allSettled(this.activating.values());
    await this.closeServer?.();
    await Promise.all(this.exposing);
    // After the server: no answer comes in after the last rows are written.
    await this.predictionLog?.close().catch(() => undefined);
    const loaded = [...this.models.values()];
    this.models.clear();
    await Promise.all(
      loaded.map(async (entry) => {
        const predictor = await entry.promise.catch(() => undefined);
        await predictor?.close?.();
      }),
    );
  }

  // -------------------------------------------------------------------------
  // internals

  /**
   * Run a change: one at a time per endpoint in this process (the queue),
   * and across processes (the lock), on the revisions read from disk under
   * the lock, never on a copy another process may have outdated.
   */
  private mutate<T>(endpoint: string, task: (revisions: Deployment[] | undefined) => Promise<T>): Promise<T> {
    if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) {
      return Promise.reject(notFound(endpoint));
    }
    return this.enqueue(endpoint, () =>
      withEndpointLock(this.context.stateDir, endpoint, async () => {
        const ticket = ++this.ticket;
        const fresh = await readEndpointFile(this.context.stateDir, endpoint);
        this.remember(
          endpoint,
          ticket,
          fresh && { signature: fresh.signature, revisions: fresh.file.revisions },
        );
        return task(fresh?.file.revisions);
      }),
    );
  }

  /** Run changes to one endpoint one at a time, in call order. */
  private enqueue<T>(endpoint: string, task: () => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new CairnError(ErrorCodes.DEPLOY_FAILED, 'the local deployer is closed'));
    const previous = this.queues.get(endpoint) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.queues.set(endpoint, tail);
    void tail.then(() => {
      if (this.queues.get(endpoint) === tail) this.queues.delete(endpoint);
    });
    return result;
  }

  /**
   * The endpoint's revisions as the state folder holds them now: a stat,
   * and a read only when the file changed since the last one.
   * @throws CAIRN_DEPLOY_FAILED naming a damaged file
   */
  private async refresh(endpoint: string): Promise<Deployment[] | undefined> {
    if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) return undefined;
    const ticket = ++this.ticket;
    const signature = await stateSignature(this.context.stateDir, endpoint);
    if (signature === undefined) return this.remember(endpoint, ticket, undefined);
    const cached = this.known.get(endpoint);
    if (cached?.signature === signature) return cached.revisions;
    const read = await readEndpointFile(this.context.stateDir, endpoint);
    return this.remember(
      endpoint,
      ticket,
      read && { signature: read.signature, revisions: read.file.revisions },
    );
  }

  /** Store what a read or write taken at `ticket` found, unless something later is stored; returns the newest. */
  private remember(endpoint: string, ticket: number, entry: Known | undefined): Deployment[] | undefined {
    if (ticket < (this.tickets.get(endpoint) ?? 0)) return this.known.get(endpoint)?.revisions;
    this.tickets.set(endpoint, ticket);
    if (entry) this.known.set(endpoint, entry);
    else this.known.delete(endpoint);
    return entry?.revisions;
  }

  /** One pass of a serving deployer over the state folder: pick up, switch to and drop endpoints. */
  private async follow(): Promise<void> {
    const ticket = ++this.ticket;
    let names: string[];
    try {
      names = await listEndpoints(this.context.stateDir);
    } catch {
      return; // The folder is unreadable for now; keep serving what we have.
    }
    for (const endpoint of names) {
      // A damaged file keeps its last good revision serving; status() and health() name the file.
      await this.refresh(endpoint).catch(() => undefined);
    }
    for (const endpoint of [...this.known.keys()]) {
      if (!names.includes(endpoint)) this.remember(endpoint, ticket, undefined);
    }
    for (const endpoint of [...this.live.keys()]) if (!this.known.has(endpoint)) this.forget(endpoint);
    // Not awaited: a slow load on one endpoint must not hold up the others' next pass.
    for (const endpoint of this.known.keys()) void this.activate(endpoint);
    this.collect();
  }

  /**
   * Switch a serving deployer to the endpoint's latest known revision: its
   * bundles load first, and only then does traffic move. A revision that
   * cannot load stalls (retried later); the previous one keeps serving.
   */
  private activate(endpoint: string): Promise<void> {
    const running = this.activating.get(endpoint);
    if (running) return running;
    const target = this.known.get(endpoint)?.revisions.at(-1);
    if (!target || this.closed) return Promise.resolve();
    const key = keyOf(target);
    const active = this.live.get(endpoint);
    if (active && keyOf(active) === key) {
      this.stalled.delete(endpoint);
      return Promise.resolve();
    }
    const stalled = this.stalled.get(endpoint);
    if (stalled?.key === key && Date.now() < stalled.retryAt) return Promise.resolve();
    const work = (async () => {
      try {
        await Promise.all(target.routes.map((route) => this.acquire(route.model)));
      } catch (error) {
        this.stalled.set(endpoint, {
          key,
          error: `revision ${target.revision} is not live (${messageOf(error)}); ${
            active ? `revision ${active.revision} keeps serving` : 'nothing serves this endpoint'
          }`,
          retryAt: Date.now() + STALLED_RETRY_MS,
        });
        return;
      }
      // Only forward: while it loaded, a newer revision (or a removal) may have landed.
      const latest = this.known.get(endpoint)?.revisions.at(-1);
      if (this.closed || !latest || keyOf(latest) !== key) return;
      this.live.set(endpoint, target);
      this.stalled.delete(endpoint);
    })().finally(() => this.activating.delete(endpoint));
    this.activating.set(endpoint, work);
    return work;
  }

  /**
   * The revision a serving deployer answers with. An endpoint this process
   * has not switched to yet (written by another process since the last
   * pass) is loaded now, so a request never waits for the next pass.
   */
  private async liveRevision(endpoint: string): Promise<Deployment | undefined> {
    let active = this.live.get(endpoint);
    if (active) return active;
    const revisions = await this.refresh(endpoint);
    if (!revisions) return undefined;
    await this.activate(endpoint);
    active = this.live.get(endpoint);
    if (!active)
      throw notLive(endpoint, this.stalled.get(endpoint)?.error ?? 'its bundles are still loading');
    return active;
  }

  private forget(endpoint: string): void {
    this.remember(endpoint, ++this.ticket, undefined);
    this.live.delete(endpoint);
    this.stalled.delete(endpoint);
    this.stats.delete(endpoint);
  }

  /** A caller's copy, with the URL where a serving process answers. */
  private present(deployment: Deployment): Deployment {
    const copy = structuredClone(deployment);
    delete copy.url;
    return this.baseUrl ? { ...copy, url: `${this.baseUrl}/v1/endpoints/${deployment.endpoint}` } : copy;
  }

  /**
   * Make a new revision on top of `revisions` (read under the lock): run
   * `prepare` (load, health-check) with the routes' bundles pinned, write the
   * state file, and only then switch traffic, so a failure at any point
   * leaves the endpoint as it was. A serving deployer also loads every route
   * first: it never writes a revision it cannot answer with.
   */
  private async change(
    endpoint: string,
    revisions: Deployment[] | undefined,
    routes: TrafficRoute[],
    change: Deployment['change'],
    reason: string | undefined,
    prepare?: () => Promise<void>,
  ): Promise<Deployment> {
    const digests = routes.map((route) => route.model.digest);
    for (const digest of digests) this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    try {
      await prepare?.();
      if (this.serving) await Promise.all(routes.map((route) => this.acquire(route.model)));
      const previous = revisions ?? [];
      const next: Deployment = {
        endpoint,
        revision: (previous.at(-1)?.revision ?? 0) + 1,
        routes,
        updatedAt: new Date().toISOString(),
        change,
        ...(reason !== undefined ? { reason } : {}),
      };
      const updated = [...previous, next];
      const signature = await writeEndpointFile(this.context.stateDir, {
        format: 1,
        endpoint,
        revisions: updated,
      });
      this.remember(endpoint, ++this.ticket, { signature, revisions: updated });
      if (this.serving) {
        this.live.set(endpoint, next);
        this.stalled.delete(endpoint);
      }
      return this.present(next);
    } finally {
      for (const digest of digests) {
        const count = (this.pins.get(digest) ?? 1) - 1;
        if (count > 0) this.pins.set(digest, count);
        else this.pins.delete(digest);
      }
      this.collect();
    }
  }

  /**
   * Unload bundles no endpoint needs. The previous revision's routes stay
   * loaded so that a rollback (blue-green's way back) is instant.
   */
  private collect(): void {
    const needed = new Set(this.pins.keys());
    for (const { revisions } of this.known.values()) {
      for (const revision of revisions.slice(-2)) {
        for (const route of revision.routes) needed.add(route.model.digest);
      }
    }
    for (const active of this.live.values()) {
      for (const route of active.routes) needed.add(route.model.digest);
    }
    for (const [digest, entry] of this.models) {
      if (needed.has(digest)) continue;
      this.models.delete(digest);
      entry.retired = true;
      if (entry.inflight === 0) void this.unload(entry);
    }
  }

  private async unload(entry: LoadedModel): Promise<void> {
    const predictor = await entry.promise.catch(() => undefined);
    try {
      await predictor?.close?.();
    } catch {
      // Closing is best effort: the model is out of every route already.
    }
  }

  /** The loaded predictor of a version, loading it once per digest. */
  private acquire(ref: ModelVersionRef): Promise<Predictor> {
    const existing = this.models.get(ref.digest);
    if (existing) return existing.promise;
    const started = performance.now();
    const entry: LoadedModel = { promise: this.load(ref), inflight: 0, retired: false };
    this.models.set(ref.digest, entry);
    entry.promise.then(
      (predictor) => {
        entry.predictor = predictor;
        this.metrics?.modelLoaded(ref, (performance.now() - started) / 1000);
        this.loadErrors.delete(ref.digest);
      },
      (error) => {
        // Forget the failure so the next deploy or request tries again.
        if (this.models.get(ref.digest) === entry) this.models.delete(ref.digest);
        this.loadErrors.set(ref.digest, messageOf(error));
      },
    );
    return entry.promise;
  }

  private async load(ref: ModelVersionRef): Promise<Predictor> {
    const { storage, loaders, stateDir } = this.context;
    const what = describeRef(ref);
    const failed = (message: string, cause?: unknown) =>
      new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot deploy ${what}: ${message}`, cause ? { cause } : {});
    // A bundle unpacked before is reused only while its files match the list written at extraction.
    let bundle: ModelBundle;
    let refused = '';
    try {
      bundle = await openBundle(storage, stateDir, ref.digest, (problem) => {
        refused = ` (its unpacked folder was refused: ${problem})`;
      });
    } catch (error) {
      if (error instanceof BundleMissing) throw failed(`${error.message}${refused}`);
      throw failed(
        `its bundle ${ref.digest} cannot be unpacked from storage ${storage.name}: ${messageOf(error)}${refused}`,
        error,
      );
    }
    const flavor = bundle.manifest.flavor;
    const loader = loaders[flavor];
    if (!loader) {
      const known = Object.keys(loaders).join(', ') || 'none';
      throw failed(`no loader for flavor "${flavor}" (loaders for: ${known})`);
    }
    try {
      return await loader(bundle);
    } catch (error) {
      throw failed(`the "${flavor}" loader failed: ${messageOf(error)}`, error);
    }
  }

  private async healthCheck(
    predictor: Predictor,
    ref: ModelVersionRef,
    rows: readonly unknown[],
  ): Promise<void> {
    let answer: unknown;
    try {
      answer = await predictor.predict(rows);
    } catch (error) {
      throw new CairnError(
        ErrorCodes.DEPLOY_FAILED,
        `${describeRef(ref)} failed its health check: ${messageOf(error)}`,
        { cause: error },
      );
    }
    if (!Array.isArray(answer) || answer.length !== rows.length) {
      throw new CairnError(
        ErrorCodes.DEPLOY_FAILED,
        `${describeRef(ref)} failed its health check: expected ${rows.length} predictions, got ${
          Array.isArray(answer) ? answer.length : typeof answer
        }`,
      );
    }
  }

  /** Run one prediction on a version, keeping its model open while it runs. */
  private async run(ref: ModelVersionRef, rows: readonly unknown[]): Promise<unknown[]> {
    let entry = this.models.get(ref.digest);
    if (!entry) {
      // A live bundle that failed to load at start: try again rather than fail forever.
      await this.acquire(ref);
      entry = this.models.get(ref.digest);
      if (!entry) throw new CairnError(ErrorCodes.DEPLOY_FAILED, `${describeRef(ref)} is not loaded`);
    }
    entry.inflight++;
    try {
      const predictor = await entry.promise;
      let predictions: unknown;
      try {
        predictions = await predictor.predict(rows);
      } catch (error) {
        if (CairnError.is(error) && error.code === ErrorCodes.DATA_INVALID) throw error;
        throw new CairnError(ErrorCodes.DEPLOY_FAILED, `${describeRef(ref)} failed: ${messageOf(error)}`, {
          cause: error,
        });
      }
      if (!Array.isArray(predictions) || predictions.length !== rows.length) {
        throw new CairnError(
          ErrorCodes.DEPLOY_FAILED,
          `${describeRef(ref)} answered ${Array.isArray(predictions) ? predictions.length : typeof predictions} predictions for ${rows.length} rows`,
        );
      }
      return predictions;
    } finally {
      entry.inflight--;
      if (entry.retired && entry.inflight === 0) void this.unload(entry);
    }
  }

  private async runShadow(endpoint: string, ref: ModelVersionRef, rows: readonly unknown[]): Promise<void> {
    if (this.closed) return;
    const stats = this.statsFor(endpoint, ref);
    const metrics = this.metrics?.route(endpoint, ref, 'shadow');
    const started = performance.now();
    try {
      await this.run(ref, rows);
      this.record(stats, performance.now() - started);
      metrics?.observe((performance.now() - started) / 1000, false);
    } catch (error) {
      // Bad rows are the caller's fault, already answered by the primary; anything else counts against the shadow.
      const failed = !CairnError.is(error) || error.code !== ErrorCodes.DATA_INVALID;
      metrics?.observe((performance.now() - started) / 1000, failed);
      if (failed) stats.errors++;
    } finally {
      stats.requests++;
    }
  }

  private pick(endpoint: string, deployment: Deployment, unitId: string | undefined): TrafficRoute {
    const live = deployment.routes.filter((route) => route.role !== 'shadow' && route.weight > 0);
    const ordered = [
      ...live.filter((route) => route.role === 'canary'),
      ...live.filter((route) => route.role === 'primary'),
    ];
    const index = routeIndex(
      endpoint,
      ordered.map((route) => route.weight),
      unitId,
    );
    return ordered[index] ?? deployment.routes.find((route) => route.role === 'primary')!;
  }

  private statsFor(endpoint: string, ref: ModelVersionRef): RouteStats {
    let byRoute = this.stats.get(endpoint);
    if (!byRoute) {
      byRoute = new Map();
      this.stats.set(endpoint, byRoute);
    }
    const key = routeKey(ref);
    let stats = byRoute.get(key);
    if (!stats) {
      stats = { requests: 0, errors: 0, latencies: [], next: 0 };
      byRoute.set(key, stats);
    }
    return stats;
  }

  private record(stats: RouteStats, ms: number): void {
    if (stats.latencies.length < this.settings.latencyWindow) stats.latencies.push(ms);
    else stats.latencies[stats.next] = ms;
    stats.next = (stats.next + 1) % this.settings.latencyWindow;
  }
}
