import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    const run = (overrides: string[] = []) =>
      runPipeline(training, {
        storage,
        metadata,
        projectDir,
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
});
