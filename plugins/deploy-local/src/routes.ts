/**
 * Route arithmetic, pure: what a deploy, a traffic split, a promotion or a
 * rollback makes of an endpoint's routes, and which route answers a unit.
 * Nothing here reads or writes state.
 */
import {
  type Deployment,
  type DeployRequest,
  ENDPOINT_NAME,
  isDigest,
  type ModelVersionRef,
  type RolloutStrategy,
  type TrafficRoute,
} from '@cairn/core';
import { bucketRanges, chooseBucket, hashToUnit } from '@cairn/stats';
import { invalid } from './problems';

export const copyRef = (ref: ModelVersionRef): ModelVersionRef => ({
  model: ref.model,
  version: ref.version,
  digest: ref.digest,
});

export const sameRef = (a: ModelVersionRef, b: ModelVersionRef) =>
  a.model === b.model && a.version === b.version && a.digest === b.digest;

export const sameRoutes = (a: TrafficRoute[], b: TrafficRoute[]) =>
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

/** The route of `deployment` that answers `unitId` (see {@link routeIndex}). */
export function pickRoute(
  endpoint: string,
  deployment: Deployment,
  unitId: string | undefined,
): TrafficRoute {
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

/** A deploy request checked field by field, with the model reference copied. */
export function checkRequest(request: DeployRequest): { strategy: RolloutStrategy; model: ModelVersionRef } {
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
  if (request.staging !== undefined && typeof request.staging !== 'boolean')
    throw invalid(
      `endpoint ${endpoint}: "staging" must be true or false, got ${JSON.stringify(request.staging)}`,
    );
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

/**
 * The routes a deploy makes on top of `current`, or `undefined` when the
 * version is already the sole primary of a blue-green endpoint (a no-op).
 */
export function deployRoutes(
  endpoint: string,
  current: Deployment | undefined,
  strategy: RolloutStrategy,
  model: ModelVersionRef,
): TrafficRoute[] | undefined {
  if (strategy.type === 'blue-green') {
    const alreadySole = current?.routes.length === 1 && sameRef(current.routes[0]!.model, model);
    return alreadySole ? undefined : [{ model, role: 'primary', weight: 100 }];
  }
  if (!current) {
    throw invalid(
      `endpoint ${endpoint} has no primary yet: deploy a first version blue-green before a ${strategy.type}`,
    );
  }
  // The new route replaces a route of its own role; the others stay.
  const kept = current.routes.filter((route) => route.role !== strategy.type);
  const clash = kept.find((route) => route.model.version === model.version);
  if (clash) throw invalid(`endpoint ${endpoint}: version ${model.version} is already its ${clash.role}`);
  if (strategy.type === 'shadow') return [...kept, { model, role: 'shadow', weight: 0 }];
  const primary = kept.find((route) => route.role === 'primary')!;
  return [
    { model: copyRef(primary.model), role: 'primary', weight: 100 - strategy.percent },
    { model, role: 'canary', weight: strategy.percent },
    ...kept.filter((route) => route.role === 'shadow'),
  ];
}

/**
 * The routes of a traffic split over the live (non-shadow) versions: the
 * heaviest becomes the primary, the others canaries, versions at 0 leave.
 */
export function trafficRoutes(
  endpoint: string,
  current: Deployment,
  split: Record<number, number>,
): TrafficRoute[] {
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
  return [
    ...ranked.map(
      ({ route, weight }, i): TrafficRoute => ({
        model: copyRef(route.model),
        role: i === 0 ? 'primary' : 'canary',
        weight,
      }),
    ),
    ...current.routes.filter((route) => route.role === 'shadow'),
  ];
}

/** The heaviest canary (else the shadow) becomes the sole primary; a promoted canary keeps the shadow. */
export function promoteRoutes(endpoint: string, current: Deployment): TrafficRoute[] {
  const canary = current.routes
    .filter((route) => route.role === 'canary')
    .sort((a, b) => b.weight - a.weight)[0];
  const target = canary ?? current.routes.find((route) => route.role === 'shadow');
  if (!target) throw invalid(`endpoint ${endpoint} has no canary or shadow to promote`);
  return [
    { model: copyRef(target.model), role: 'primary', weight: 100 },
    ...(target.role === 'canary' ? current.routes.filter((route) => route.role === 'shadow') : []),
  ];
}

/** The routes of the revision before the latest. */
export function rollbackRoutes(endpoint: string, revisions: Deployment[]): TrafficRoute[] {
  const previous = revisions.at(-2);
  if (!previous)
    throw invalid(`endpoint ${endpoint} has only one revision: there is nothing to roll back to`);
  return previous.routes.map((route) => ({ ...route, model: copyRef(route.model) }));
}
