/**
 * The live local deployer: endpoint revisions, model loading shared by
 * digest, routing, statistics, and the per-endpoint queue that keeps
 * revisions consecutive.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CairnError,
  type Deployer,
  type DeployerContext,
  type Deployment,
  type DeployRequest,
  ENDPOINT_NAME,
  type EndpointHealth,
  ErrorCodes,
  isDigest,
  loadModelBundle,
  type ModelBundle,
  type ModelVersionRef,
  materializeArtifact,
  type Predictor,
  type PredictResult,
  type RolloutStrategy,
  sha256,
  type TrafficRoute,
} from '@cairn/core';
import { startServer } from './server';
import { deploymentsDir, readEndpointFiles, removeEndpointFile, writeEndpointFile } from './state';

/** Resolved options of the local deployer. */
export interface LocalDeployerSettings {
  host: string;
  port: number;
  serve: boolean;
  maxBodyBytes: number;
  latencyWindow: number;
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
 * Where a unit falls in [0, 100): a hash of endpoint and unit, so a unit keeps
 * its version across requests and restarts, and two endpoints split
 * independently.
 */
export function unitPoint(endpoint: string, unitId: string): number {
  return (Number.parseInt(sha256(`${endpoint}\u0000${unitId}`).slice(0, 13), 16) / 2 ** 52) * 100;
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

export class LocalDeployer implements Deployer {
  private readonly endpoints = new Map<string, Deployment[]>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly models = new Map<string, LoadedModel>();
  private readonly loadErrors = new Map<string, string>();
  /** Digests a change in progress is loading: not to be unloaded under it. */
  private readonly pins = new Map<string, number>();
  private readonly stats = new Map<string, Map<string, RouteStats>>();
  private baseUrl: string | undefined;
  private closeServer: (() => Promise<void>) | undefined;
  private closed = false;

  private constructor(
    private readonly settings: LocalDeployerSettings,
    private readonly context: DeployerContext,
  ) {}

  /** Restore every endpoint from the state folder, load its live bundles, then start serving. */
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
    const deployer = new LocalDeployer(settings, context);
    for (const file of await readEndpointFiles(context.stateDir)) {
      deployer.endpoints.set(file.endpoint, file.revisions);
    }
    // A bundle that no longer loads does not stop the others: health reports it.
    await Promise.allSettled(
      [...deployer.endpoints.values()].flatMap((revisions) =>
        revisions.at(-1)!.routes.map((route) => deployer.acquire(route.model)),
      ),
    );
    if (settings.serve) {
      try {
        const server = await startServer(deployer, settings);
        deployer.baseUrl = server.url;
        deployer.closeServer = server.close;
      } catch (error) {
        await deployer.close();
        throw error;
      }
    }
    return deployer;
  }

  // -------------------------------------------------------------------------
  // changes

  async deploy(request: DeployRequest): Promise<Deployment> {
    const { strategy, model } = checkRequest(request);
    const { endpoint } = request;
    return this.enqueue(endpoint, async () => {
      const current = this.endpoints.get(endpoint)?.at(-1);
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
      return this.change(endpoint, routes, 'deploy', request.reason, async () => {
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
    return this.enqueue(endpoint, async () => {
      const current = this.current(endpoint);
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
      return this.change(endpoint, routes, 'traffic', options.reason);
    });
  }

  async promote(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.enqueue(endpoint, async () => {
      const current = this.current(endpoint);
      const canary = current.routes
        .filter((route) => route.role === 'canary')
        .sort((a, b) => b.weight - a.weight)[0];
      const target = canary ?? current.routes.find((route) => route.role === 'shadow');
      if (!target) throw invalid(`endpoint ${endpoint} has no canary or shadow to promote`);
      const routes: TrafficRoute[] = [
        { model: copyRef(target.model), role: 'primary', weight: 100 },
        ...(target.role === 'canary' ? current.routes.filter((route) => route.role === 'shadow') : []),
      ];
      return this.change(endpoint, routes, 'promote', options.reason);
    });
  }

  async rollback(endpoint: string, options: { reason?: string } = {}): Promise<Deployment> {
    return this.enqueue(endpoint, async () => {
      const revisions = this.endpoints.get(endpoint);
      if (!revisions) throw notFound(endpoint);
      const previous = revisions.at(-2);
      if (!previous)
        throw invalid(`endpoint ${endpoint} has only one revision: there is nothing to roll back to`);
      const routes = previous.routes.map((route) => ({ ...route, model: copyRef(route.model) }));
      return this.change(endpoint, routes, 'rollback', options.reason, async () => {
        await Promise.all(routes.map((route) => this.acquire(route.model)));
      });
    });
  }

  async remove(endpoint: string): Promise<void> {
    await this.enqueue(endpoint, async () => {
      if (!this.endpoints.has(endpoint)) return;
      await removeEndpointFile(this.context.stateDir, endpoint);
      this.endpoints.delete(endpoint);
      this.stats.delete(endpoint);
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
    const deployment = this.endpoints.get(endpoint)?.at(-1);
    if (!deployment) throw notFound(endpoint);
    if (!Array.isArray(rows)) throw new CairnError(ErrorCodes.DATA_INVALID, 'rows must be an array');
    const route = this.pick(endpoint, deployment, options.unitId);
    const stats = this.statsFor(endpoint, route.model);
    const started = performance.now();
    let predictions: unknown[];
    try {
      predictions = await this.run(route.model, rows);
    } catch (error) {
      stats.requests++;
      if (CairnError.is(error) && error.code === ErrorCodes.DATA_INVALID) throw error;
      stats.errors++;
      throw error;
    }
    stats.requests++;
    this.record(stats, performance.now() - started);
    for (const shadow of deployment.routes) {
      // After the answer, off the request's path: a shadow never delays or fails it.
      if (shadow.role === 'shadow') setImmediate(() => void this.runShadow(endpoint, shadow.model, rows));
    }
    return {
      predictions,
      served: copyRef(route.model),
      role: route.role === 'canary' ? 'canary' : 'primary',
      revision: deployment.revision,
    };
  }

  async status(endpoint: string): Promise<Deployment | undefined> {
    const current = this.endpoints.get(endpoint)?.at(-1);
    return current && this.present(current);
  }

  async history(endpoint: string): Promise<Deployment[]> {
    return (this.endpoints.get(endpoint) ?? []).map((revision) => this.present(revision));
  }

  async list(): Promise<Deployment[]> {
    return [...this.endpoints.keys()]
      .sort()
      .map((endpoint) => this.present(this.endpoints.get(endpoint)!.at(-1)!));
  }

  async health(endpoint: string): Promise<EndpointHealth> {
    const current = this.current(endpoint);
    const routes = current.routes.map((route) => {
      const loaded = this.models.get(route.model.digest);
      const ready = loaded?.predictor !== undefined;
      const stats = this.statsFor(endpoint, route.model);
      const recent = stats.latencies.slice().sort((a, b) => a - b);
      return {
        model: copyRef(route.model),
        role: route.role,
        ready,
        requests: stats.requests,
        errors: stats.errors,
        ...(recent.length > 0
          ? { latencyMs: { p50: percentile(recent, 50), p95: percentile(recent, 95) } }
          : {}),
        ...(ready
          ? {}
          : { error: this.loadErrors.get(route.model.digest) ?? (loaded ? 'still loading' : 'not loaded') }),
      };
    });
    const primaryReady = routes.find((route) => route.role === 'primary')?.ready ?? false;
    const status = !primaryReady
      ? 'unavailable'
      : routes.every((route) => route.ready)
        ? 'healthy'
        : 'degraded';
    return { endpoint, status, revision: current.revision, routes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeServer?.();
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

  private current(endpoint: string): Deployment {
    const current = this.endpoints.get(endpoint)?.at(-1);
    if (!current) throw notFound(endpoint);
    return current;
  }

  /** A caller's copy, with the URL of the running server. */
  private present(deployment: Deployment): Deployment {
    const copy = structuredClone(deployment);
    delete copy.url;
    return this.baseUrl ? { ...copy, url: `${this.baseUrl}/v1/endpoints/${deployment.endpoint}` } : copy;
  }

  /**
   * Make a new revision: run `prepare` (load, health-check) with the routes'
   * bundles pinned, write the state file, and only then switch traffic, so a
   * failure at any point leaves the endpoint as it was.
   */
  private async change(
    endpoint: string,
    routes: TrafficRoute[],
    change: Deployment['change'],
    reason: string | undefined,
    prepare?: () => Promise<void>,
  ): Promise<Deployment> {
    const digests = routes.map((route) => route.model.digest);
    for (const digest of digests) this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    try {
      await prepare?.();
      const revisions = this.endpoints.get(endpoint) ?? [];
      const next: Deployment = {
        endpoint,
        revision: (revisions.at(-1)?.revision ?? 0) + 1,
        routes,
        updatedAt: new Date().toISOString(),
        change,
        ...(reason !== undefined ? { reason } : {}),
      };
      const updated = [...revisions, next];
      await writeEndpointFile(this.context.stateDir, { format: 1, endpoint, revisions: updated });
      this.endpoints.set(endpoint, updated);
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
    for (const revisions of this.endpoints.values()) {
      for (const revision of revisions.slice(-2)) {
        for (const route of revision.routes) needed.add(route.model.digest);
      }
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
    const entry: LoadedModel = { promise: this.load(ref), inflight: 0, retired: false };
    this.models.set(ref.digest, entry);
    entry.promise.then(
      (predictor) => {
        entry.predictor = predictor;
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
    // A bundle unpacked (and verified) before is reused: a restart needs no storage round trip.
    const dir = join(deploymentsDir(stateDir), 'bundles', ref.digest);
    let bundle: ModelBundle | undefined = await loadModelBundle(dir).catch(() => undefined);
    if (!bundle) {
      const stat = await storage.stat(ref.digest).catch((error) => {
        throw failed(`storage ${storage.name} failed: ${messageOf(error)}`, error);
      });
      if (!stat) throw failed(`its bundle ${ref.digest} is not in storage (${storage.name})`);
      // Unpack beside the final folder and rename, so a crash never leaves half a bundle under the digest.
      await rm(dir, { recursive: true, force: true });
      const partial = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await materializeArtifact(storage, { digest: ref.digest, size: stat.size }, 'tree', partial);
        await rename(partial, dir).catch(async (error: NodeJS.ErrnoException) => {
          // Another deployer on this state folder unpacked it first.
          if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        });
      } catch (error) {
        throw failed(`its bundle ${ref.digest} cannot be unpacked: ${messageOf(error)}`, error);
      } finally {
        await rm(partial, { recursive: true, force: true });
      }
      try {
        bundle = await loadModelBundle(dir);
      } catch (error) {
        throw failed(`${ref.digest} is not a model bundle: ${messageOf(error)}`, error);
      }
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
    const started = performance.now();
    try {
      await this.run(ref, rows);
      this.record(stats, performance.now() - started);
    } catch (error) {
      // Bad rows are the caller's fault, already answered by the primary; anything else counts against the shadow.
      if (!CairnError.is(error) || error.code !== ErrorCodes.DATA_INVALID) stats.errors++;
    } finally {
      stats.requests++;
    }
  }

  private pick(endpoint: string, deployment: Deployment, unitId: string | undefined): TrafficRoute {
    const live = deployment.routes.filter((route) => route.role !== 'shadow' && route.weight > 0);
    // Canaries take the low end of [0, 100): raising a canary's share keeps the units it already had.
    const ordered = [
      ...live.filter((route) => route.role === 'canary'),
      ...live.filter((route) => route.role === 'primary'),
    ];
    const point = unitId === undefined ? Math.random() * 100 : unitPoint(endpoint, unitId);
    let upTo = 0;
    for (const route of ordered) {
      upTo += route.weight;
      if (point < upTo) return route;
    }
    return deployment.routes.find((route) => route.role === 'primary')!;
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
