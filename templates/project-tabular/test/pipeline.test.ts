import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelLoader } from '@cairn/core';
import type { DeployRecord, GateDecision } from '@cairn/delivery';
import { runPipeline } from '@cairn/runtime';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { describe, expect, it } from 'vitest';
import config from '../cairn.config';
import { training } from '../pipelines/training';
import { baseConfig, project, projectDir } from './helpers';

describe('the training pipeline', () => {
  it('trains, registers, promotes and deploys a first model; the gate judges a second by its rule', async () => {
    const storage = memoryStore();
    const metadata = memoryMetadata();
    const { task, target } = project();
    const gate = baseConfig('gate') as {
      metric: string;
      direction: 'higher' | 'lower';
      minImprovement: number;
      allowedRegression: number;
    };
    const endpoint = baseConfig('deploy').endpoint as string;
    const modelName = baseConfig('register').model as string;
    // The project's own deployer and model loaders, with their state in a scratch folder.
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-pipeline-test-'));
    const deployer = config.stack!.deployer!;
    const loaders = config.serving!.loaders;
    // The load test's speed thresholds are loosened past anything a loaded machine could
    // break: this test checks the wiring (measured before the deploy), not the speed, which
    // belongs to a benchmark. The refusal of a slow model has its own test below.
    const unbreakable = ['loadtest.p99Ms=3600000', 'loadtest.minRps=0.000001'];
    const run = (overrides: string[] = []) =>
      runPipeline(training, {
        storage,
        metadata,
        projectDir,
        overrides: [...unbreakable, ...overrides],
        tmpDir: `${projectDir}/.cairn/tmp`,
        deployer,
        loaders,
        stateDir,
      });
    const output = async <T>(result: Awaited<ReturnType<typeof run>>, step: string, name: string) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of await storage.get(result.steps[step]!.outputs[name]!.digest))
        chunks.push(chunk);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    };

    try {
      const first = await run();
      expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
      const good = await output<GateDecision>(first, 'gate', 'decision');
      expect(good).toMatchObject({
        decision: 'promoted',
        stage: 'production',
        failsCi: false,
        metric: gate.metric,
      });
      const scores = await output<Record<string, number>>(first, 'evaluate', 'metrics');
      expect(good.candidate.value).toBe(scores[gate.metric]);
      // The load test measured the candidate before the deploy step ran.
      const load = await output<Record<string, number>>(first, 'loadtest', 'metrics');
      expect(load).toMatchObject({ tested: 1, passed: 1 });
      expect(load.requests).toBeGreaterThan(0);
      expect(load.p50_ms).toBeLessThanOrEqual(load.p95_ms!);
      expect(load.p95_ms).toBeLessThanOrEqual(load.p99_ms!);
      const deployed = await output<DeployRecord>(first, 'deploy', 'deployment');
      expect(deployed).toMatchObject({ endpoint, version: good.candidate.version, deployed: true });

      // The endpoint answers a raw row (a row of the data, without its target) with the promoted version.
      const { ingest } = await import('../steps/ingest');
      const { runStep } = await import('./helpers');
      const { data } = await runStep(ingest, baseConfig('ingest'));
      const { [target]: actual, ...row } = data.rows().find((r: any) => r[target] !== null);
      const serving = await deployer.create({
        storage,
        loaders,
        stateDir: join(stateDir, 'deploy'),
        mode: 'control',
      });
      try {
        const answer = await serving.predict(endpoint, [row]);
        expect(answer.served.version).toBe(good.candidate.version);
        const prediction = answer.predictions[0] as { label?: string; value?: number };
        if (task === 'classification') expect(typeof prediction.label).toBe('string');
        else expect(Number.isFinite(prediction.value)).toBe(true);
        expect(actual).not.toBeUndefined();
      } finally {
        await serving.close();
      }

      // A second candidate: promoted, kept or failing CI exactly as the gate's rule in conf/base/gate.yaml says.
      const second = await run(['train.trees=3', 'train.maxDepth=2', 'evaluate.beatBaseline=false']);
      expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
      const decision = await output<GateDecision>(second, 'gate', 'decision');
      const better = (a: number, b: number) => (gate.direction === 'higher' ? a - b : b - a);
      const improvement = better(decision.candidate.value, good.candidate.value);
      expect(decision.improvement).toBeCloseTo(improvement, 12);
      const promoted = improvement >= gate.minImprovement;
      expect(decision.decision).toBe(promoted ? 'promoted' : 'kept');
      expect(decision.failsCi).toBe(!promoted && -improvement > gate.allowedRegression);
      const production = await metadata.getModelByStage(modelName, 'production');
      expect(production?.version).toBe(
        decision.decision === 'promoted' ? decision.candidate.version : good.candidate.version,
      );
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('refuses a candidate too slow for its load test, with the numbers, and never deploys it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-loadtest-test-'));
    // The project's own loaders, each answer held 60 ms longer: a model as heavy as that.
    // A loaded machine only makes answers slower, so the 20 ms limit below is broken either way.
    const slow: Record<string, ModelLoader> = {};
    for (const [flavor, load] of Object.entries(config.serving!.loaders)) {
      slow[flavor] = async (bundle) => {
        const model = await load(bundle);
        return {
          predict(rows) {
            const until = performance.now() + 60;
            while (performance.now() < until) {
              // Busy, as a heavy model holds the CPU; no answer can come sooner.
            }
            return model.predict(rows);
          },
        };
      };
    }
    try {
      const result = await runPipeline(training, {
        storage: memoryStore(),
        metadata: memoryMetadata(),
        projectDir,
        overrides: ['loadtest.p99Ms=20'],
        tmpDir: `${projectDir}/.cairn/tmp`,
        deployer: config.stack!.deployer!,
        loaders: slow,
        stateDir,
      });
      expect(result.status).toBe('failed');
      expect(result.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
      expect(result.steps.loadtest!.error?.message).toMatch(/p99 latency [\d.]+ ms > p99Ms 20 ms/);
      expect(result.steps.deploy!.status).toBe('skipped');
      const endpoint = baseConfig('deploy').endpoint as string;
      const deployer = await config.stack!.deployer!.create({
        storage: memoryStore(),
        loaders: slow,
        stateDir: join(stateDir, 'deploy'),
        mode: 'control',
      });
      try {
        expect(await deployer.list()).toEqual([]);
        expect(await deployer.status(endpoint)).toBeUndefined();
      } finally {
        await deployer.close();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
