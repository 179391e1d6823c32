/**
 * Delivery inside a pipeline: train → register → gate → deploy through the
 * stack's real deployer (deploy-local), and a step that uses the real A/B
 * engine (abtest-local). What must hold: the deploy step serves what the
 * gate promoted, reruns reuse it, an operator's rollback is not undone, a
 * canary comes from config, and a pipeline needing a plugin the stack lacks
 * is refused before anything is recorded.
 */

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAbtest } from '@cairn/abtest-local';
import {
  type CairnError,
  json,
  type MetadataStore,
  type ModelLoader,
  metrics,
  model,
  pipeline,
  type StorageDriver,
  step,
} from '@cairn/core';
import {
  type CanaryReview,
  canaryReviewStep,
  type DeployRecord,
  deployModelStep,
  promotionGateStep,
  registerModelStep,
} from '@cairn/delivery';
import { localDeployer } from '@cairn/deploy-local';
import { localStore, planPipeline, runPipeline } from '@cairn/runtime';
import { mulberry32 } from '@cairn/stats';
import { memoryMetadata } from '@cairn/testkit';
import { freePort } from '@cairn/testkit/ports';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

// A model whose prediction is its quality: which version answered is visible in the answer.
const train = step({
  name: 'train',
  config: z.object({ quality: z.number() }),
  outputs: { model: model(), metrics: metrics() },
  run: ({ config }) => ({
    model: {
      manifest: { flavor: 'constant', signature: { inputs: [], outputs: [{ name: 'y', type: 'number' }] } },
      files: { 'weights.json': JSON.stringify({ quality: config.quality }) },
    },
    metrics: { macro_f1: config.quality },
  }),
});
const loaders: Record<string, ModelLoader> = {
  constant: (bundle) => {
    const { quality } = JSON.parse(new TextDecoder().decode(bundle.files['weights.json'] as Uint8Array));
    return { predict: (rows) => rows.map(() => quality) };
  },
};
const register = registerModelStep();
const gate = promotionGateStep();
const deploy = deployModelStep();
const training = pipeline('training', () => {
  const { model: m, metrics: scores } = train();
  const { registration } = register({ model: m, metrics: scores });
  const { decision } = gate({ registration });
  deploy({ decision });
});

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
let port: number;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-deliver-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
  port = await freePort();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const stack = () => ({
  storage,
  metadata,
  projectDir: dir,
  deployer: localDeployer({ port }),
  loaders,
});
const configs = (quality: number, deployConfig: Record<string, unknown> = { endpoint: 'toy' }) => ({
  train: { quality },
  register: { model: 'toy' },
  gate: { metric: 'macro_f1', minImprovement: 0.01, allowedRegression: 0.05 },
  deploy: deployConfig,
});
async function runWith(quality: number, deployConfig?: Record<string, unknown>) {
  const reasons = new Map<string, string>();
  const result = await runPipeline(training, {
    ...stack(),
    configs: configs(quality, deployConfig),
    onEvent: (e) => {
      if (e.type === 'step.started') reasons.set(e.step, e.reason);
      if (e.type === 'step.cached') reasons.set(e.step, 'cached');
    },
  });
  expect(result.status, result.error?.message).toBe('succeeded');
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.get(result.steps.deploy!.outputs.deployment!.digest))
    chunks.push(Buffer.from(chunk));
  return { record: JSON.parse(Buffer.concat(chunks).toString()) as DeployRecord, reasons };
}
/** A deployer of the same state folder, as `cairn endpoints` would open it. */
const control = () =>
  localDeployer({ port }).create({
    storage,
    loaders,
    stateDir: join(dir, '.cairn', 'deploy'),
    mode: 'control',
  });

describe('the deploy step', () => {
  it('deploys what the gate promoted, reuses it on a rerun, and serves the next promotion', async () => {
    const first = await runWith(0.9);
    expect(first.record).toMatchObject({
      endpoint: 'toy',
      model: 'toy',
      version: 1,
      deployed: true,
      revision: 1,
    });
    const deployer = await control();
    try {
      expect((await deployer.predict('toy', [{}])).predictions).toEqual([0.9]);

      const again = await runWith(0.9);
      expect(again.reasons.get('deploy')).toBe('cached');

      // Worse: the gate keeps v1 in production and the deploy step changes nothing.
      const worse = await runWith(0.85);
      expect(worse.record).toMatchObject({ version: 1, deployed: false, revision: 1 });

      const better = await runWith(0.95);
      expect(better.record).toMatchObject({
        version: 3,
        deployed: true,
        revision: 2,
        strategy: 'blue-green',
      });
      expect((await deployer.predict('toy', [{}])).predictions).toEqual([0.95]);
    } finally {
      await deployer.close();
    }
  });

  it('takes a canary from its config, and an operator rollback is not undone by the next run', async () => {
    await runWith(0.9);
    const canary = await runWith(0.96, { endpoint: 'toy', strategy: 'canary', percent: 25 });
    expect(canary.record).toMatchObject({ version: 2, deployed: true, revision: 2, strategy: 'canary' });
    const deployer = await control();
    try {
      const status = await deployer.status('toy');
      expect(status!.routes.map((r) => [r.model.version, r.role, r.weight])).toEqual(
        expect.arrayContaining([
          [1, 'primary', 75],
          [2, 'canary', 25],
        ]),
      );
      await deployer.rollback('toy', { reason: 'canary looked wrong' });
    } finally {
      await deployer.close();
    }
    const rerun = await runWith(0.96, { endpoint: 'toy', strategy: 'canary', percent: 25 });
    expect(rerun.reasons.get('deploy')).toBe('cached');
    const after = await control();
    try {
      expect((await after.status('toy'))!.change).toBe('rollback');
    } finally {
      await after.close();
    }
  });

  it('runs in control mode: the run opens no server on the deployer port', async () => {
    // Hold the port the deployer is configured with: a serving deployer could not start.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const { record } = await runWith(0.9);
      expect(record.deployed).toBe(true);
      expect(record.url).toBe(`http://127.0.0.1:${port}/v1/endpoints/toy`);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('a bad deploy config is refused before anything runs', async () => {
    const error = (await runPipeline(training, {
      ...stack(),
      configs: configs(0.9, { endpoint: 'Bad Name', strategy: 'canary' }),
    }).catch((e) => e)) as CairnError;
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.message).toMatch(/endpoint/);
    expect(error.message).toMatch(/percent/);
    expect(await metadata.listRuns({})).toHaveLength(0);
  });

  it('a pipeline with a deploy step is refused, for run and plan, when the stack has no deployer', async () => {
    const { deployer: _, ...noDeployer } = stack();
    for (const attempt of [
      () => runPipeline(training, { ...noDeployer, configs: configs(0.9) }),
      () => planPipeline(training, { ...noDeployer, configs: configs(0.9) }),
    ]) {
      const error = (await attempt().catch((e) => e)) as CairnError;
      expect(error.code).toBe('CAIRN_STACK_INVALID');
      expect(error.message).toMatch(/step "deploy" uses the deployer, but the stack has no deployer plugin/);
      expect(error.message).toMatch(/cairn add deploy-local/);
    }
    expect(await metadata.listRuns({})).toHaveLength(0);
    expect(existsSync(join(dir, '.cairn', 'deploy'))).toBe(false);
  });
});

describe("a step that uses 'abtest'", () => {
  it('receives the stack A/B engine, whose experiments persist in the state folder', async () => {
    const experiment = step({
      name: 'experiment',
      uses: ['abtest'],
      outputs: { created: json<{ name: string; control: string }>() },
      async run({ abtest }) {
        const created = await abtest!.createExperiment({
          name: 'toy-v2',
          variants: [
            { name: 'v1', weight: 50 },
            { name: 'v2', weight: 50 },
          ],
          primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
        });
        return { created: { name: created.name, control: created.control } };
      },
    });
    const flow = pipeline('experiments', () => {
      experiment();
    });
    const options = { storage, metadata, projectDir: dir, abtest: localAbtest() };
    const result = await runPipeline(flow, options);
    expect(result.status, result.error?.message).toBe('succeeded');
    expect(existsSync(join(dir, '.cairn', 'abtest.db'))).toBe(true);
    const engine = await localAbtest().create({ stateDir: join(dir, '.cairn') });
    try {
      expect(await engine.getExperiment('toy-v2')).toMatchObject({ control: 'v1', status: 'running' });
    } finally {
      await engine.close();
    }
    const { abtest: _, ...without } = options;
    const error = (await runPipeline(flow, without).catch((e) => e)) as CairnError;
    expect(error.code).toBe('CAIRN_STACK_INVALID');
    expect(error.message).toMatch(/cairn add abtest-local/);
  });
});

describe('a canary judged by its A/B experiment', () => {
  const review = canaryReviewStep();
  const reviewing = pipeline('canary-review', () => {
    review();
  });
  const abStack = () => ({ ...stack(), abtest: localAbtest() });

  /**
   * Send `units` users through the serving deployer over HTTP; each unit's
   * outcome is a success with the probability of the version that served it.
   */
  async function traffic(server: string, units: number, success: Record<number, number>) {
    const random = mulberry32(7);
    const served: Record<number, number> = {};
    for (let i = 0; i < units; i++) {
      const unitId = `user-${i}`;
      const response = await fetch(`${server}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows: [{}], unitId }),
      });
      expect(response.status).toBe(200);
      const { version } = (await response.json()) as { version: number };
      served[version] = (served[version] ?? 0) + 1;
      const outcome = await fetch(`${server}/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ unitId, value: random() < success[version]! ? 1 : 0, eventId: `o-${i}` }),
      });
      expect(outcome.status, await outcome.clone().text()).toBe(202);
    }
    return served;
  }

  async function scenario(success: (v: { primary: number; canary: number }) => Record<number, number>) {
    const options = { ...abStack() };
    const run = (quality: number, deploy: Record<string, unknown>) =>
      runPipeline(training, { ...options, configs: configs(quality, deploy) });
    expect((await run(0.9, { endpoint: 'toy' })).status).toBe('succeeded');
    const canaryRun = await run(0.96, { endpoint: 'toy', strategy: 'canary', percent: 50 });
    expect(canaryRun.status, canaryRun.error?.message).toBe('succeeded');

    const engine = await localAbtest().create({ stateDir: join(dir, '.cairn') });
    const serving = await localDeployer({ port }).create({
      storage,
      loaders,
      stateDir: join(dir, '.cairn', 'deploy'),
      mode: 'serve',
      experiments: engine,
    });
    try {
      const experiment = await engine.getExperiment('toy-canary-r2');
      expect(experiment).toMatchObject({ seed: 'toy', control: 'v1', status: 'running' });
      const served = await traffic(
        `http://127.0.0.1:${port}/v1/endpoints/toy`,
        400,
        success({ primary: 1, canary: 2 }),
      );
      expect(served[1]! + served[2]!).toBe(400);
      // The experiment's assignment is the deployer's routing, unit by unit.
      for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
        const { predictions, served: version } = await serving.predict('toy', [{}], { unitId: `user-${i}` });
        expect(predictions).toHaveLength(1);
        expect((await engine.assign('toy-canary-r2', `user-${i}`)).variant).toBe(`v${version.version}`);
      }
      // Exposures are recorded off the request path: wait for all of them.
      for (;;) {
        const exposures = (await engine.analyze('toy-canary-r2')).exposures;
        if ((exposures.v1 ?? 0) + (exposures.v2 ?? 0) === 400) {
          expect(exposures).toEqual({ v1: served[1], v2: served[2] });
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await serving.close();
      await engine.close();
    }
    const reviewed = await runPipeline(reviewing, {
      ...options,
      configs: { 'canary-review': { endpoint: 'toy' } },
    });
    expect(reviewed.status, reviewed.error?.message).toBe('succeeded');
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get(reviewed.steps['canary-review']!.outputs.review!.digest))
      chunks.push(Buffer.from(chunk));
    return JSON.parse(Buffer.concat(chunks).toString()) as CanaryReview;
  }

  it('a better canary is promoted to sole primary and wins its experiment', async () => {
    const review = await scenario(({ primary, canary }) => ({ [primary]: 0.3, [canary]: 0.6 }));
    expect(review).toMatchObject({ action: 'promoted', canary: 2, primary: 1, experiment: 'toy-canary-r2' });
    const deployer = await control();
    const engine = await localAbtest().create({ stateDir: join(dir, '.cairn') });
    try {
      const status = await deployer.status('toy');
      expect(status!.routes.map((r) => [r.model.version, r.role, r.weight])).toEqual([[2, 'primary', 100]]);
      expect(await engine.getExperiment('toy-canary-r2')).toMatchObject({
        status: 'concluded',
        winner: 'v2',
      });
    } finally {
      await deployer.close();
      await engine.close();
    }
  });

  it('a worse canary leaves traffic, and production in the registry is the primary again', async () => {
    const review = await scenario(({ primary, canary }) => ({ [primary]: 0.5, [canary]: 0.2 }));
    expect(review).toMatchObject({ action: 'rolled-back', canary: 2, primary: 1 });
    const deployer = await control();
    try {
      const status = await deployer.status('toy');
      expect(status!.routes.map((r) => [r.model.version, r.role, r.weight])).toEqual([[1, 'primary', 100]]);
    } finally {
      await deployer.close();
    }
    expect((await metadata.getModelByStage('toy', 'production'))?.version).toBe(1);
    // The next training run sees production = v1 already serving: nothing to deploy.
    const next = await runWith(0.96, { endpoint: 'toy', strategy: 'canary', percent: 50 });
    expect(next.record).toMatchObject({ version: 1, deployed: false });
  });
});
