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
    // The load test judges only its error rate here: this test checks the wiring (measured
    // before the deploy), and a verdict on p99Ms or minRps would depend on how fast this
    // machine is; speed belongs to a benchmark. The refusal has its own test below.
    const { p99Ms: _p99Ms, minRps: _minRps, ...errorsOnly } = baseConfig('loadtest');
    const run = (overrides: string[] = []) =>
      runPipeline(training, {
        storage,
        metadata,
        projectDir,
        configs: { loadtest: errorsOnly },
        overrides,
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
      for (const key of ['p50_ms', 'p95_ms', 'p99_ms', 'rps', 'error_rate'])
        expect(Number.isFinite(load[key]), key).toBe(true);
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

  it('refuses a candidate that answers nothing in its load test, and never deploys it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-loadtest-test-'));
    // The project's own loaders, answering the health check (the first prediction, when the
    // staging endpoint is deployed) and holding every request after it until the run is over:
    // no request of the load test is answered, on any machine at any speed.
    const held: Array<() => void> = [];
    const silent: Record<string, ModelLoader> = {};
    for (const [flavor, load] of Object.entries(config.serving!.loaders)) {
      silent[flavor] = async (bundle) => {
        const model = await load(bundle);
        let predictions = 0;
        return {
          predict(rows) {
            if (predictions++ === 0) return model.predict(rows);
            return new Promise<unknown[]>((resolve) => held.push(() => resolve(model.predict(rows))));
          },
        };
      };
    }
    try {
      const result = await runPipeline(training, {
        storage: memoryStore(),
        metadata: memoryMetadata(),
        projectDir,
        // A second is enough to answer nothing in. The error-rate limit is set here so that the
        // refusal holds whichever thresholds conf/base/loadtest.yaml keeps.
        overrides: ['loadtest.duration=1', 'loadtest.maxErrorRate=0.01'],
        tmpDir: `${projectDir}/.cairn/tmp`,
        deployer: config.stack!.deployer!,
        loaders: silent,
        stateDir,
      });
      expect(result.status).toBe('failed');
      expect(result.steps.gate!.status).toBe('succeeded');
      expect(result.steps.loadtest!.status).toBe('failed');
      expect(result.steps.loadtest!.error?.code).toBe('CAIRN_LOADTEST_FAILED');
      expect(result.steps.loadtest!.error?.message).toContain(
        'error rate: no request was answered (limit 1 %)',
      );
      expect(result.steps.deploy!.status).toBe('skipped');
      const endpoint = baseConfig('deploy').endpoint as string;
      const deployer = await config.stack!.deployer!.create({
        storage: memoryStore(),
        loaders: silent,
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
      for (const answer of held.splice(0)) answer();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
