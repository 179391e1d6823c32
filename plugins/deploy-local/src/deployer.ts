/**
 * The live local deployer: endpoint revisions kept in the state folder and
 * shared by every deployer on it, changes under the endpoint's lock, and, in
 * a serving process, the switch of traffic to the revisions others write.
 * The parts live beside it: route arithmetic (routes.ts), what is known of
 * the state folder (revisions.ts), loaded models (models.ts), statistics
 * (stats.ts), canary exposures and outcomes (exposures.ts), metrics and the
 * prediction log.
 */
import {
  CairnError,
  type Deployer,
  type DeployerContext,
  type Deployment,
  type DeployRequest,
  ENDPOINT_NAME,
  type EndpointHealth,
  ErrorCodes,
  type PredictResult,
  type TrafficRoute,
} from '@cairn/core';
import { resolveEnvRefs } from '@cairn/runtime';
import { CanaryExposures, type OutcomeAnswer, type OutcomeRequest } from './exposures';
import { LiveRevisions } from './live';
import { withEndpointLock } from './lock';
import { createMetrics, type ServingMetrics } from './metrics';
import { healthCheck, ModelCache } from './models';
import { PredictionLog, type PredictionLogSettings, servedRows } from './prediction-log';
import { closedError, isBadInput, notFound } from './problems';
import { KnownRevisions, keyOf } from './revisions';
import {
  checkRequest,
  copyRef,
  deployRoutes,
  pickRoute,
  promoteRoutes,
  rollbackRoutes,
  sameRoutes,
  trafficRoutes,
} from './routes';
import { startServer } from './server';
import { removeEndpointFile, writeEndpointFile } from './state';
import { ServingStats } from './stats';

export type { OutcomeAnswer, OutcomeRequest } from './exposures';

/** Resolved options of the local deployer. */
export interface LocalDeployerSettings {
  host: string;
  port: number;
  serve: boolean;
  maxBodyBytes: number;
  maxRows: number;
  latencyWindow: number;
  followIntervalMs: number;
  /** Bearer token the outcomes route requires; without one, outcomes are taken from loopback only. */
  outcomesToken?: string;
  /** Serve Prometheus metrics at `/metrics`. */
  metrics: boolean;
  /** Log a sampled share of the answered requests to storage; off without it. */
  predictionLog?: PredictionLogSettings;
}

const optionsInvalid = (message: string) =>
  new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `local deployer: ${message}`);

function checkContext(context: DeployerContext): void {
  if (typeof context?.stateDir !== 'string' || context.stateDir === '') {
    throw optionsInvalid('create() needs a stateDir');
  }
  if (typeof context.storage?.get !== 'function') throw optionsInvalid('create() needs a storage driver');
  if (typeof context.loaders !== 'object' || context.loaders === null) {
    throw optionsInvalid('create() needs a loaders map');
  }
  if (context.mode !== undefined && context.mode !== 'serve' && context.mode !== 'control') {
    throw optionsInvalid(`create() mode must be "serve" or "control", got ${JSON.stringify(context.mode)}`);
  }
}

/** The settings with the outcomes token's `${env:…}` resolved (never stored resolved). */
function resolveToken(settings: LocalDeployerSettings): LocalDeployerSettings {
  if (settings.outcomesToken === undefined) return settings;
  const token = resolveEnvRefs(settings.outcomesToken);
  if (token.length < 16) {
    throw optionsInvalid('outcomesToken must be at least 16 characters (a short token can be guessed)');
  }
  return { ...settings, outcomesToken: token };
}

export class LocalDeployer implements Deployer {
  private readonly revisions: KnownRevisions;
  private readonly models: ModelCache;
  private readonly stats: ServingStats;
  private readonly exposures: CanaryExposures;
  /** Serve mode: the revisions answering traffic, which trail `revisions` while new bundles load. */
  private readonly live: LiveRevisions;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly serving: boolean;
  /** Serve mode with `metrics: true`: what `/metrics` shows. */
  private metrics: ServingMetrics | undefined;
  /** Serve mode with `predictionLog`: the sampled requests on their way to storage. */
  private predictionLog: PredictionLog | undefined;
  private baseUrl: string | undefined;
  private closeServer: (() => Promise<void>) | undefined;
  private followTimer: NodeJS.Timeout | undefined;
  private following: Promise<void> | undefined;
  private closed = false;
  /** The shutdown under way, once close() was called (a second call waits for the same one). */
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly settings: LocalDeployerSettings,
    private readonly context: DeployerContext,
  ) {
    this.serving = (context.mode ?? 'serve') === 'serve';
    this.revisions = new KnownRevisions(context.stateDir);
    this.models = new ModelCache(context, (ref, seconds) => this.metrics?.modelLoaded(ref, seconds));
    this.stats = new ServingStats(settings.latencyWindow);
    this.live = new LiveRevisions(this.revisions, this.models);
    this.exposures = new CanaryExposures(context.experiments, context.stateDir, (endpoint) =>
      this.history(endpoint),
    );
  }

  /**
   * Serve mode: restore every endpoint from the state folder, load its live
   * bundles, start the HTTP server and follow the folder. Control mode:
   * read nothing up front and open no port.
   */
  static async start(settings: LocalDeployerSettings, context: DeployerContext): Promise<LocalDeployer> {
    checkContext(context);
    const deployer = new LocalDeployer(resolveToken(settings), context);
    // A damaged state file stops create() in both modes, naming the file.
    for (const endpoint of await deployer.revisions.listOnDisk()) await deployer.revisions.refresh(endpoint);
    if (!deployer.serving) {
      const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
      // Where a serving process with these options answers; unknowable for port 0.
      if (settings.port !== 0) deployer.baseUrl = `http://${host}:${settings.port}`;
      return deployer;
    }
    await deployer.startServing();
    return deployer;
  }

  private async startServing(): Promise<void> {
    const { settings, context } = this;
    if (settings.metrics) this.metrics = await createMetrics();
    if (settings.predictionLog) {
      this.predictionLog = new PredictionLog(
        context.storage,
        context.stateDir,
        settings.predictionLog,
        this.metrics,
      );
    }
    for (const endpoint of this.revisions.names()) {
      const latest = this.revisions.latest(endpoint)!;
      if (!latest.staging) this.live.set(endpoint, latest);
    }
    // A bundle that no longer loads does not stop the others: health reports it, requests retry it.
    await Promise.allSettled(
      this.live.all().flatMap((current) => current.routes.map((route) => this.models.acquire(route.model))),
    );
    if (settings.serve) {
      try {
        const server = await startServer(this, settings);
        this.baseUrl = server.url;
        this.closeServer = server.close;
      } catch (error) {
        await this.close();
        throw error;
      }
    }
    this.followTimer = setInterval(() => {
      // One pass at a time: a slow load must not stack passes up.
      if (this.following || this.closed) return;
      this.following = this.follow().finally(() => {
        this.following = undefined;
      });
    }, settings.followIntervalMs);
    this.followTimer.unref();
  }

  // -------------------------------------------------------------------------
  // changes

  async deploy(request: DeployRequest): Promise<Deployment> {
    const { strategy, model } = checkRequest(request);
    const { endpoint } = request;
    return this.mutate(endpoint, async (revisions) => {
      const current = revisions?.at(-1);
      const routes = deployRoutes(endpoint, current, strategy, model);
      if (!routes) return this.present(current!);
      const staging = request.staging === true;
      return this.change(endpoint, revisions, routes, 'deploy', request.reason, staging, async () => {
        const predictor = await this.models.acquire(model);
        if (request.healthCheckRows) await healthCheck(predictor, model, request.healthCheckRows);
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
      const routes = trafficRoutes(endpoint, current, split);
      if (sameRoutes(routes, current.routes)) return this.present(current);
      return this.change(endpoint, revisions, routes, 'traffic', options.reason, current.staging === true);
    });
  }

  async promote(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.mutate(endpoint, async (revisions) => {
      const current = revisions?.at(-1);
      if (!current) throw notFound(endpoint);
      const routes = promoteRoutes(endpoint, current);
      return this.change(endpoint, revisions, routes, 'promote', options.reason, current.staging === true);
    });
  }

  async rollback(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.mutate(endpoint, async (revisions) => {
      if (!revisions) throw notFound(endpoint);
      const routes = rollbackRoutes(endpoint, revisions);
      const staging = revisions.at(-1)?.staging === true;
      return this.change(endpoint, revisions, routes, 'rollback', options.reason, staging, async () => {
        await Promise.all(routes.map((route) => this.models.acquire(route.model)));
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
    if (this.closed) throw closedError();
    if (typeof endpoint !== 'string' || !ENDPOINT_NAME.test(endpoint)) throw notFound(endpoint);
    const deployment = this.serving
      ? await this.live.answering(endpoint)
      : (await this.revisions.refresh(endpoint))?.at(-1);
    if (!deployment) throw notFound(endpoint);
    if (!Array.isArray(rows)) throw new CairnError(ErrorCodes.DATA_INVALID, 'rows must be an array');
    const route = pickRoute(endpoint, deployment, options.unitId);
    const predictions = await this.runMeasured(endpoint, route, rows);
    const role = route.role === 'canary' ? 'canary' : 'primary';
    this.predictionLog?.offer(
      endpoint,
      route.model,
      role,
      deployment.revision,
      options.unitId,
      rows,
      predictions,
    );
    if (options.unitId !== undefined) this.exposures.record(endpoint, deployment, options.unitId);
    for (const shadow of deployment.routes) {
      // After the answer, off the request's path: a shadow never delays or fails it.
      if (shadow.role === 'shadow') {
        setImmediate(() => {
          if (!this.closed) void this.runMeasured(endpoint, shadow, rows).catch(() => {});
        });
      }
    }
    return { predictions, served: copyRef(route.model), role, revision: deployment.revision };
  }

  /**
   * Run a prediction on a route, counted in the route's stats and metrics.
   * Bad rows are the caller's fault: they count as a request, not an error.
   */
  private async runMeasured(
    endpoint: string,
    route: TrafficRoute,
    rows: readonly unknown[],
  ): Promise<unknown[]> {
    const stats = this.stats.of(endpoint, route.model);
    const metrics = this.metrics?.route(endpoint, route);
    const started = performance.now();
    try {
      const predictions = await this.models.run(route.model, rows);
      const elapsed = performance.now() - started;
      this.stats.record(stats, elapsed);
      metrics?.observe(elapsed / 1000, false);
      return predictions;
    } catch (error) {
      const failed = !isBadInput(error);
      if (failed) stats.errors++;
      metrics?.observe((performance.now() - started) / 1000, failed);
      throw error;
    } finally {
      stats.requests++;
    }
  }

  /**
   * An outcome of a unit served by the endpoint's canary experiment (what
   * `POST /v1/endpoints/<name>/outcomes` takes; see CanaryExposures).
   */
  recordOutcome(endpoint: string, outcome: OutcomeRequest): Promise<OutcomeAnswer> {
    return this.exposures.recordOutcome(endpoint, outcome);
  }

  async status(endpoint: string): Promise<Deployment | undefined> {
    const current = (await this.revisions.refresh(endpoint))?.at(-1);
    return current && this.present(current);
  }

  async history(endpoint: string): Promise<Deployment[]> {
    return ((await this.revisions.refresh(endpoint)) ?? []).map((revision) => this.present(revision));
  }

  async list(): Promise<Deployment[]> {
    const current: Deployment[] = [];
    for (const endpoint of await this.revisions.listOnDisk()) {
      const revision = (await this.revisions.refresh(endpoint))?.at(-1);
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
    const current = (await this.revisions.refresh(endpoint))?.at(-1);
    if (!current) throw notFound(endpoint);
    if (!this.serving) {
      // A control process keeps nothing loaded up front: load to tell whether the bundles serve.
      await Promise.allSettled(current.routes.map((route) => this.models.acquire(route.model)));
    }
    const active = this.serving ? this.live.get(endpoint) : current;
    const stalled = this.live.stalledOn(endpoint);
    const behind = active === undefined || keyOf(active) !== keyOf(current);
    const routes = current.routes.map((route) => {
      const state = this.models.state(route.model.digest);
      const ready = state === 'ready';
      const error =
        this.models.loadError(route.model.digest) ??
        (stalled?.key === keyOf(current)
          ? stalled.error
          : state === 'loading'
            ? 'still loading'
            : 'not loaded');
      return {
        model: copyRef(route.model),
        role: route.role,
        ready,
        ...this.stats.summary(endpoint, route.model),
        ...(ready ? {} : { error }),
      };
    });
    const primaryReady = routes.find((route) => route.role === 'primary')?.ready ?? false;
    const activePrimary = active?.routes.find((route) => route.role === 'primary');
    const oldServes =
      activePrimary !== undefined && this.models.state(activePrimary.model.digest) === 'ready';
    const status = primaryReady
      ? routes.every((route) => route.ready) && !behind
        ? 'healthy'
        : 'degraded'
      : behind && oldServes
        ? 'degraded'
        : 'unavailable';
    return { endpoint, status, revision: current.revision, routes };
  }

  /**
   * Answer `endpoint` alone over HTTP on a private loopback port (the load
   * test's way in): the same server code as `cairn serve`, fronting this
   * deployer, so a control process can measure a staging endpoint without a
   * serving process and without touching another endpoint's traffic. Its
   * requests carry no unit ids: they record no exposures, and a control
   * deployer logs no predictions.
   */
  async serveEndpoint(endpoint: string): Promise<{ url: string; close(): Promise<void> }> {
    if (this.closed) throw closedError();
    if (!(await this.status(endpoint))) throw notFound(endpoint);
    const only = (name: string): string => {
      if (name !== endpoint) throw notFound(name);
      return name;
    };
    // A view of this deployer that knows one endpoint: every other name is not found.
    const view = Object.create(this) as LocalDeployer;
    view.predict = (name, rows, options) => this.predict(only(name), rows, options);
    view.status = async (name) => (name === endpoint ? this.status(name) : undefined);
    view.health = (name) => this.health(only(name));
    view.list = async () => {
      const current = await this.status(endpoint);
      return current ? [current] : [];
    };
    view.recordOutcome = (name) => Promise.reject(notFound(name));
    view.renderMetrics = async () => undefined;
    const server = await startServer(view, {
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: this.settings.maxBodyBytes,
      maxRows: this.settings.maxRows,
    });
    return { url: `${server.url}/v1/endpoints/${endpoint}`, close: server.close };
  }

  /**
   * What the endpoint served and logged (`predictionLog`), oldest first:
   * batches any serving process on this state folder wrote to storage.
   */
  servedRows(endpoint: string, options: { version?: number; since?: string | Date } = {}) {
    return servedRows({ storage: this.context.storage, stateDir: this.context.stateDir }, endpoint, options);
  }

  /** What `GET /metrics` answers (Prometheus text format); `undefined` when metrics are off. */
  async renderMetrics(): Promise<{ contentType: string; text: string } | undefined> {
    return this.metrics?.render();
  }

  /** Write the sampled predictions waiting in memory to storage now. */
  async flushPredictionLog(): Promise<void> {
    await this.predictionLog?.flush();
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /**
   * Stop following, then close the server gracefully: requests in flight are
   * still answered (predict works until it has closed). Then the prediction
   * log writes what it holds; rows it cannot write are counted as dropped and
   * reported (CAIRN_STORAGE_FAILED), after the models are closed.
   */
  private async shutDown(): Promise<void> {
    clearInterval(this.followTimer);
    await this.following;
    await this.live.close();
    await this.closeServer?.();
    this.closed = true;
    await this.exposures.settle();
    // After the server: no answer comes in after the last rows are written.
    let lost: unknown;
    await this.predictionLog?.close().catch((error: unknown) => {
      lost = error;
    });
    await this.models.close();
    if (lost !== undefined) throw lost;
  }

  // -------------------------------------------------------------------------
  // changes, underneath

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
      withEndpointLock(this.context.stateDir, endpoint, async () =>
        task(await this.revisions.read(endpoint)),
      ),
    );
  }

  /** Run changes to one endpoint one at a time, in call order. */
  private enqueue<T>(endpoint: string, task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
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
    staging: boolean,
    prepare?: () => Promise<void>,
  ): Promise<Deployment> {
    const digests = routes.map((route) => route.model.digest);
    try {
      return await this.models.pinned(digests, async () => {
        await prepare?.();
        if (this.serving) await Promise.all(routes.map((route) => this.models.acquire(route.model)));
        const previous = revisions ?? [];
        const next: Deployment = {
          endpoint,
          revision: (previous.at(-1)?.revision ?? 0) + 1,
          routes,
          updatedAt: new Date().toISOString(),
          change,
          ...(reason !== undefined ? { reason } : {}),
          ...(staging ? { staging: true } : {}),
        };
        const updated = [...previous, next];
        const signature = await writeEndpointFile(this.context.stateDir, {
          format: 1,
          endpoint,
          revisions: updated,
        });
        this.revisions.wrote(endpoint, signature, updated);
        // A staging endpoint is answered only through serveEndpoint, never by a serving process.
        if (this.serving && !staging) this.live.set(endpoint, next);
        return this.present(next);
      });
    } finally {
      this.collect();
    }
  }

  /**
   * Unload bundles no endpoint needs. The previous revision's routes stay
   * loaded so that a rollback (blue-green's way back) is instant.
   */
  private collect(): void {
    const needed = new Set<string>();
    for (const revisions of this.revisions.all()) {
      for (const revision of revisions.slice(-2)) {
        for (const route of revision.routes) needed.add(route.model.digest);
      }
    }
    for (const active of this.live.all()) {
      for (const route of active.routes) needed.add(route.model.digest);
    }
    this.models.collect(needed);
  }

  // -------------------------------------------------------------------------
  // following the state folder (serve mode)

  /** One pass of a serving deployer over the state folder: pick up, switch to and drop endpoints. */
  private async follow(): Promise<void> {
    let names: string[];
    try {
      names = await this.revisions.listOnDisk();
    } catch {
      return; // The folder is unreadable for now; keep serving what we have.
    }
    for (const endpoint of names) {
      // A damaged file keeps its last good revision serving; status() and health() name the file.
      await this.revisions.refresh(endpoint).catch(() => undefined);
    }
    for (const endpoint of this.live.endpoints()) if (!this.revisions.has(endpoint)) this.forget(endpoint);
    // Not awaited: a slow load on one endpoint must not hold up the others' next pass.
    for (const endpoint of this.revisions.names()) void this.live.activate(endpoint);
    this.collect();
  }

  private forget(endpoint: string): void {
    this.revisions.forget(endpoint);
    this.live.drop(endpoint);
    this.stats.forget(endpoint);
  }

  /** A caller's copy, with the URL where a serving process answers. */
  private present(deployment: Deployment): Deployment {
    const copy = structuredClone(deployment);
    delete copy.url;
    // A staging endpoint has no URL here: the serving process does not answer it.
    return this.baseUrl && !deployment.staging
      ? { ...copy, url: `${this.baseUrl}/v1/endpoints/${deployment.endpoint}` }
      : copy;
  }
}
