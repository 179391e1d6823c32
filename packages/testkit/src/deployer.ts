/**
 * `testDeployer` — the conformance suite for deployer plugins. It stores
 * tiny linear models as real bundles, deploys them through the deployer
 * under test and checks what every deployer must do: revisions, blue-green,
 * canary and shadow routing, rollback, validation, failure isolation and
 * (for persistent deployers) restart.
 *
 * ```ts
 * import { testDeployer } from '@cairn/testkit';
 * testDeployer({ create: () => localDeployer({ port: 0 }) });
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Deployer,
  type DeployerDescriptor,
  type Deployment,
  ErrorCodes,
  type ModelVersionRef,
  type StorageDriver,
} from '@cairn/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  expectedFor,
  PROBE_ROW,
  type StoredModels,
  storeTestModels,
  testLoaders,
} from './fixtures/deployer-models';
import { memoryStore } from './memory/storage';

/** Options of {@link testDeployer}. */
export interface TestDeployerOptions {
  /** Suite title. @default the deployer's name */
  name?: string;
  /** A fresh descriptor (the factory's result). The suite calls create() itself, more than once with the same stateDir when persistent. */
  create(): DeployerDescriptor | Promise<DeployerDescriptor>;
  /** The deployer keeps its endpoints across close()/create() with the same stateDir. @default true */
  persistent?: boolean;
  /** Storage holding the bundles. @default memoryStore() from @cairn/core */
  storage?(): StorageDriver | Promise<StorageDriver>;
}

const sameVersion = (ref: ModelVersionRef) => ({
  model: ref.model,
  version: ref.version,
  digest: ref.digest,
});

/** The parts of a revision that must survive a restart (the URL may change with the port). */
const stable = (d: Deployment | undefined) =>
  d && {
    endpoint: d.endpoint,
    revision: d.revision,
    routes: d.routes,
    change: d.change,
    updatedAt: d.updatedAt,
  };

export function testDeployer(options: TestDeployerOptions): void {
  describe(`deployer conformance: ${options.name ?? 'deployer'}`, () => {
    let dir: string;
    let storage: StorageDriver;
    let models: StoredModels;
    let states = 0;
    let open: Deployer[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cairn-testkit-deploy-'));
      storage = options.storage ? await options.storage() : memoryStore();
      models = await storeTestModels(storage);
    });
    afterEach(async () => {
      const closing = open;
      open = [];
      for (const deployer of closing) await deployer.close();
    });
    afterAll(async () => {
      await storage?.close?.();
      await rm(dir, { recursive: true, force: true });
    });

    const newStateDir = () => join(dir, `state-${++states}`);
    /** Create a deployer (closed after the test); pass a stateDir to reopen one. */
    const start = async (stateDir = newStateDir()): Promise<Deployer> => {
      const descriptor = await options.create();
      expect(descriptor.kind).toBe('deployer');
      const deployer = await descriptor.create({ storage, loaders: testLoaders, stateDir });
      open.push(deployer);
      return deployer;
    };
    const close = async (deployer: Deployer) => {
      open = open.filter((d) => d !== deployer);
      await deployer.close();
    };
    /** Predict the probe row and check the value matches the version that says it answered. */
    const probe = async (deployer: Deployer, endpoint: string, unitId?: string) => {
      const result = await deployer.predict(endpoint, [PROBE_ROW], unitId === undefined ? {} : { unitId });
      expect(result.predictions).toEqual([expectedFor(result.served.version)]);
      return result;
    };
    const rejects = (promise: Promise<unknown>, code: string) =>
      expect(promise).rejects.toMatchObject({ code });

    it('deploys a first version as revision 1 with one primary route', async () => {
      const deployer = await start();
      const deployment = await deployer.deploy({ endpoint: 'first', model: models.v1, reason: 'initial' });
      expect(deployment).toMatchObject({
        endpoint: 'first',
        revision: 1,
        change: 'deploy',
        reason: 'initial',
      });
      expect(deployment.routes).toEqual([{ model: sameVersion(models.v1), role: 'primary', weight: 100 }]);
      expect(Number.isNaN(Date.parse(deployment.updatedAt))).toBe(false);

      const result = await probe(deployer, 'first');
      expect(result.predictions).toEqual([expectedFor(1)]);
      expect(result).toMatchObject({ served: sameVersion(models.v1), role: 'primary', revision: 1 });
      const many = await deployer.predict('first', [
        [0, 0],
        [2, 3],
      ]);
      expect(many.predictions).toEqual([100, 108]);

      expect(await deployer.status('first')).toEqual(deployment);
      expect(await deployer.history('first')).toEqual([deployment]);
      expect((await deployer.list()).filter((d) => d.endpoint === 'first')).toEqual([deployment]);
      const health = await deployer.health('first');
      expect(health).toMatchObject({ endpoint: 'first', status: 'healthy', revision: 1 });
      expect(health.routes).toHaveLength(1);
      expect(health.routes[0]).toMatchObject({ role: 'primary', ready: true, requests: 2, errors: 0 });
      expect(health.routes[0]!.latencyMs!.p95).toBeGreaterThanOrEqual(health.routes[0]!.latencyMs!.p50);
    });

    it('switches all traffic blue-green, and rollback restores the previous routes as a new revision', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'bg', model: models.v1 });
      const second = await deployer.deploy({
        endpoint: 'bg',
        model: models.v2,
        strategy: { type: 'blue-green' },
        healthCheckRows: [PROBE_ROW],
      });
      expect(second.revision).toBe(2);
      expect(second.routes).toEqual([{ model: sameVersion(models.v2), role: 'primary', weight: 100 }]);
      for (let i = 0; i < 20; i++) {
        const result = await probe(deployer, 'bg', `unit-${i}`);
        expect(result.served.version).toBe(2);
      }
      expect((await probe(deployer, 'bg')).predictions).toEqual([expectedFor(2)]);

      const back = await deployer.rollback('bg', { reason: 'v2 is worse' });
      expect(back).toMatchObject({ revision: 3, change: 'rollback', reason: 'v2 is worse' });
      expect(back.routes).toEqual([{ model: sameVersion(models.v1), role: 'primary', weight: 100 }]);
      for (let i = 0; i < 20; i++) {
        const result = await probe(deployer, 'bg', `unit-${i}`);
        expect(result.served.version).toBe(1);
        expect(result.revision).toBe(3);
      }
      const history = await deployer.history('bg');
      expect(history.map((d) => [d.revision, d.change])).toEqual([
        [1, 'deploy'],
        [2, 'deploy'],
        [3, 'rollback'],
      ]);
      expect(await deployer.status('bg')).toEqual(back);
    });

    it('refuses to roll back an endpoint with a single revision', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'lonely', model: models.v1 });
      await rejects(deployer.rollback('lonely'), ErrorCodes.DEPLOY_INVALID);
      expect((await deployer.status('lonely'))!.revision).toBe(1);
    });

    it('splits a canary by a sticky hash of the unit id, and promote makes it the sole primary', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'canary', model: models.v1 });
      const split = await deployer.deploy({
        endpoint: 'canary',
        model: models.v2,
        strategy: { type: 'canary', percent: 20 },
      });
      expect(split.revision).toBe(2);
      expect(split.routes).toHaveLength(2);
      expect(split.routes).toEqual(
        expect.arrayContaining([
          { model: sameVersion(models.v1), role: 'primary', weight: 80 },
          { model: sameVersion(models.v2), role: 'canary', weight: 20 },
        ]),
      );

      const first = new Map<string, number>();
      let canary = 0;
      for (let i = 0; i < 2000; i++) {
        const unitId = `user-${i}`;
        const result = await probe(deployer, 'canary', unitId);
        expect(result.role).toBe(result.served.version === 2 ? 'canary' : 'primary');
        first.set(unitId, result.served.version);
        if (result.served.version === 2) canary++;
      }
      expect(canary).toBeGreaterThanOrEqual(320);
      expect(canary).toBeLessThanOrEqual(480);
      for (let i = 0; i < 2000; i += 7) {
        const unitId = `user-${i}`;
        expect((await probe(deployer, 'canary', unitId)).served.version).toBe(first.get(unitId));
      }

      const promoted = await deployer.promote('canary', { reason: 'canary looks good' });
      expect(promoted).toMatchObject({ revision: 3, change: 'promote', reason: 'canary looks good' });
      expect(promoted.routes).toEqual([{ model: sameVersion(models.v2), role: 'primary', weight: 100 }]);
      for (let i = 0; i < 50; i++) {
        expect((await probe(deployer, 'canary', `user-${i}`)).served.version).toBe(2);
      }
    });

    it('refuses a traffic split that is not valid and changes nothing', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'traffic', model: models.v1 });
      await deployer.deploy({
        endpoint: 'traffic',
        model: models.v2,
        strategy: { type: 'canary', percent: 10 },
      });
      const before = await deployer.status('traffic');
      const invalid: Array<Record<number, number>> = [
        { 1: 60, 2: 30 },
        { 1: 50, 3: 50 },
        { 1: 50.5, 2: 49.5 },
        { 1: 110, 2: -10 },
        {},
      ];
      for (const split of invalid) {
        await rejects(deployer.setTraffic('traffic', split), ErrorCodes.DEPLOY_INVALID);
      }
      expect(await deployer.status('traffic')).toEqual(before);
      expect(await deployer.history('traffic')).toHaveLength(2);

      const even = await deployer.setTraffic('traffic', { 1: 50, 2: 50 }, { reason: 'half' });
      expect(even).toMatchObject({ revision: 3, change: 'traffic', reason: 'half' });
      expect(even.routes).toEqual(
        expect.arrayContaining([
          { model: sameVersion(models.v1), role: 'primary', weight: 50 },
          { model: sameVersion(models.v2), role: 'canary', weight: 50 },
        ]),
      );
      let v2 = 0;
      for (let i = 0; i < 400; i++)
        if ((await probe(deployer, 'traffic', `u${i}`)).served.version === 2) v2++;
      expect(v2).toBeGreaterThan(140);
      expect(v2).toBeLessThan(260);

      const all = await deployer.setTraffic('traffic', { 1: 0, 2: 100 });
      expect(all.revision).toBe(4);
      expect(all.routes).toEqual([{ model: sameVersion(models.v2), role: 'primary', weight: 100 }]);
      expect((await probe(deployer, 'traffic', 'u1')).served.version).toBe(2);
    });

    it('answers from the primary while a shadow gets a copy of every request', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'shadow', model: models.v1 });
      const shadowed = await deployer.deploy({
        endpoint: 'shadow',
        model: models.v2,
        strategy: { type: 'shadow' },
      });
      expect(shadowed.revision).toBe(2);
      expect(shadowed.routes).toEqual(
        expect.arrayContaining([
          { model: sameVersion(models.v1), role: 'primary', weight: 100 },
          { model: sameVersion(models.v2), role: 'shadow', weight: 0 },
        ]),
      );
      const shadowRequests = async () =>
        (await deployer.health('shadow')).routes.find((r) => r.role === 'shadow')?.requests;
      const initial = (await shadowRequests()) ?? 0;
      for (let i = 0; i < 30; i++) {
        const result = await probe(deployer, 'shadow', `user-${i}`);
        expect(result).toMatchObject({ role: 'primary', served: sameVersion(models.v1) });
      }
      await expect.poll(shadowRequests, { timeout: 900_000 }).toBeGreaterThanOrEqual(initial + 30);
      const health = await deployer.health('shadow');
      expect(health.status).toBe('healthy');
      expect(health.routes.find((r) => r.role === 'primary')!.requests).toBe(30);
      expect(health.routes.find((r) => r.role === 'shadow')).toMatchObject({ ready: true, errors: 0 });

      const promoted = await deployer.promote('shadow');
      expect(promoted.routes).toEqual([{ model: sameVersion(models.v2), role: 'primary', weight: 100 }]);
      expect((await probe(deployer, 'shadow')).served.version).toBe(2);
    });

    it('fails a deploy that cannot load or pass its health check, and the previous revision keeps serving', async () => {
      const deployer = await start();
      const live = await deployer.deploy({ endpoint: 'guarded', model: models.v1 });
      const attempts = [
        { model: models.unknownFlavor },
        { model: models.missing },
        { model: models.broken },
        { model: models.v2, healthCheckRows: [['not', 'numbers']] },
        { model: models.v3, strategy: { type: 'canary', percent: 50 } as const, healthCheckRows: [[1]] },
      ];
      for (const attempt of attempts) {
        await rejects(deployer.deploy({ endpoint: 'guarded', ...attempt }), ErrorCodes.DEPLOY_FAILED);
        expect(await deployer.status('guarded')).toEqual(live);
        const result = await probe(deployer, 'guarded', 'someone');
        expect(result).toMatchObject({ served: sameVersion(models.v1), revision: 1 });
      }
      expect(await deployer.history('guarded')).toEqual([live]);
      expect((await deployer.health('guarded')).status).toBe('healthy');

      // A failed first deploy leaves no endpoint behind.
      await rejects(deployer.deploy({ endpoint: 'never', model: models.broken }), ErrorCodes.DEPLOY_FAILED);
      expect(await deployer.status('never')).toBeUndefined();
      await rejects(deployer.predict('never', [PROBE_ROW]), ErrorCodes.DEPLOYMENT_NOT_FOUND);
    });

    it('refuses bad endpoint names, strategies and model references', async () => {
      const deployer = await start();
      for (const endpoint of ['Bad Name', '../x', '', 'a'.repeat(64), '1abc', 'a_b']) {
        await rejects(deployer.deploy({ endpoint, model: models.v1 }), ErrorCodes.DEPLOY_INVALID);
      }
      const longest = 'a'.repeat(63);
      expect((await deployer.deploy({ endpoint: longest, model: models.v1 })).revision).toBe(1);

      await deployer.deploy({ endpoint: 'strict', model: models.v1 });
      for (const percent of [0, 100, 150, 12.5, -5]) {
        await rejects(
          deployer.deploy({ endpoint: 'strict', model: models.v2, strategy: { type: 'canary', percent } }),
          ErrorCodes.DEPLOY_INVALID,
        );
      }
      await rejects(
        deployer.deploy({ endpoint: 'strict', model: models.v2, strategy: { type: 'rainbow' } as never }),
        ErrorCodes.DEPLOY_INVALID,
      );
      for (const model of [
        { ...models.v2, digest: 'not-a-digest' },
        { ...models.v2, version: 0 },
        { ...models.v2, version: 1.5 },
        { ...models.v2, model: '' },
      ]) {
        await rejects(deployer.deploy({ endpoint: 'strict', model }), ErrorCodes.DEPLOY_INVALID);
      }
      expect(await deployer.history('strict')).toHaveLength(1);
      expect(await deployer.status('Bad Name')).toBeUndefined();
      expect((await deployer.list()).map((d) => d.endpoint).sort()).toEqual([longest, 'strict'].sort());
    });

    it('reports unknown endpoints as not found', async () => {
      const deployer = await start();
      const missing = ErrorCodes.DEPLOYMENT_NOT_FOUND;
      await rejects(deployer.predict('nowhere', [PROBE_ROW]), missing);
      await rejects(deployer.health('nowhere'), missing);
      await rejects(deployer.promote('nowhere'), missing);
      await rejects(deployer.rollback('nowhere'), missing);
      await rejects(deployer.setTraffic('nowhere', { 1: 100 }), missing);
      expect(await deployer.status('nowhere')).toBeUndefined();
      expect(await deployer.history('nowhere')).toEqual([]);
      expect(await deployer.list()).toEqual([]);
    });

    it('passes bad rows through as DATA_INVALID', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'rows', model: models.v1 });
      await rejects(deployer.predict('rows', [['a', 'b']]), ErrorCodes.DATA_INVALID);
      await rejects(deployer.predict('rows', [PROBE_ROW, { x: 1 }]), ErrorCodes.DATA_INVALID);
      await rejects(deployer.predict('rows', 'not rows' as never), ErrorCodes.DATA_INVALID);
      expect((await probe(deployer, 'rows')).served.version).toBe(1);
      const health = await deployer.health('rows');
      expect(health.status).toBe('healthy');
      expect(health.routes[0]!.errors).toBe(0);
    });

    it('treats deploying the current sole primary as a no-op', async () => {
      const deployer = await start();
      const first = await deployer.deploy({ endpoint: 'same', model: models.v1 });
      const again = await deployer.deploy({ endpoint: 'same', model: models.v1 });
      expect(again).toEqual(first);
      expect(await deployer.history('same')).toHaveLength(1);
    });

    it('gives concurrent changes on one endpoint consecutive revisions', async () => {
      const deployer = await start();
      const results = await Promise.all(
        [models.v1, models.v2, models.v3, models.v1, models.v2].map((model) =>
          deployer.deploy({ endpoint: 'busy', model }),
        ),
      );
      expect(results.map((d) => d.revision).sort()).toEqual([1, 2, 3, 4, 5]);
      const history = await deployer.history('busy');
      expect(history.map((d) => d.revision)).toEqual([1, 2, 3, 4, 5]);
      expect((await deployer.status('busy'))!.revision).toBe(5);
    });

    it('removes an endpoint', async () => {
      const stateDir = newStateDir();
      const deployer = await start(stateDir);
      await deployer.deploy({ endpoint: 'gone', model: models.v1 });
      await deployer.deploy({ endpoint: 'kept', model: models.v2 });
      await deployer.remove('gone');
      expect(await deployer.status('gone')).toBeUndefined();
      expect(await deployer.history('gone')).toEqual([]);
      await rejects(deployer.predict('gone', [PROBE_ROW]), ErrorCodes.DEPLOYMENT_NOT_FOUND);
      expect((await deployer.list()).map((d) => d.endpoint)).toEqual(['kept']);
      expect((await probe(deployer, 'kept')).served.version).toBe(2);
      if (options.persistent ?? true) {
        await close(deployer);
        const again = await start(stateDir);
        expect(await again.status('gone')).toBeUndefined();
        expect((await again.list()).map((d) => d.endpoint)).toEqual(['kept']);
      }
    });

    it('keeps endpoints independent', async () => {
      const deployer = await start();
      await deployer.deploy({ endpoint: 'left', model: models.v1 });
      const right = await deployer.deploy({ endpoint: 'right', model: models.v2 });
      await deployer.deploy({ endpoint: 'left', model: models.v3 });
      await deployer.deploy({
        endpoint: 'left',
        model: models.v2,
        strategy: { type: 'canary', percent: 30 },
      });
      expect(await deployer.status('right')).toEqual(right);
      expect((await deployer.status('left'))!.revision).toBe(3);
      for (let i = 0; i < 20; i++) expect((await probe(deployer, 'right', `u${i}`)).served.version).toBe(2);
      await deployer.rollback('left');
      expect(await deployer.history('right')).toEqual([right]);
      expect((await deployer.list()).map((d) => d.endpoint).sort()).toEqual(['left', 'right']);
    });

    if (options.persistent ?? true) {
      it('restores endpoints after close and create with the same state folder', async () => {
        const stateDir = newStateDir();
        const first = await start(stateDir);
        await first.deploy({ endpoint: 'durable', model: models.v1 });
        await first.deploy({
          endpoint: 'durable',
          model: models.v2,
          strategy: { type: 'canary', percent: 40 },
        });
        await first.deploy({ endpoint: 'other', model: models.v3 });
        const status = await first.status('durable');
        const history = await first.history('durable');
        const served = new Map<string, number>();
        for (let i = 0; i < 30; i++)
          served.set(`u${i}`, (await probe(first, 'durable', `u${i}`)).served.version);
        await close(first);

        const second = await start(stateDir);
        expect(stable(await second.status('durable'))).toEqual(stable(status));
        expect((await second.history('durable')).map(stable)).toEqual(history.map(stable));
        expect((await second.list()).map((d) => d.endpoint).sort()).toEqual(['durable', 'other']);
        for (const [unitId, version] of served) {
          expect((await probe(second, 'durable', unitId)).served.version).toBe(version);
        }
        expect((await probe(second, 'other')).served.version).toBe(3);
        expect((await second.health('durable')).status).toBe('healthy');
        const back = await second.rollback('durable');
        expect(back.revision).toBe(3);
        expect(back.routes).toEqual([{ model: sameVersion(models.v1), role: 'primary', weight: 100 }]);
      });
    }
  });
}
