import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployRecord, GateDecision } from '@cairn/delivery';
import { runPipeline } from '@cairn/runtime';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { describe, expect, it } from 'vitest';
import config from '../cairn.config';
import { training } from '../pipelines/training';
import { baseConfig, projectDir } from './helpers';

// Runs the Python steps for real: needs the interpreter of CAIRN_PYTHON (default python3)
// with scikit-learn and pandas (requirements.txt).
describe('the training pipeline', () => {
  it('trains in Python, registers, promotes and deploys a model that the Python worker serves', async () => {
    const storage = memoryStore();
    const metadata = memoryMetadata();
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-pipeline-test-'));
    const deployer = config.stack!.deployer!;
    const loaders = config.serving!.loaders;
    const { target, numeric, categorical } = baseConfig('train');
    const classes: string[] = baseConfig('validate').columns[target].allowed;
    const endpoint: string = baseConfig('deploy').endpoint;
    const gate = baseConfig('gate');
    const output = async <T>(result: any, step: string, name: string) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of await storage.get(result.steps[step].outputs[name].digest))
        chunks.push(chunk);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    };
    try {
      const result = await runPipeline(training, {
        storage,
        metadata,
        projectDir,
        tmpDir: `${projectDir}/.cairn/tmp`,
        deployer,
        loaders,
        stateDir,
      });
      expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
      const scores = await output<Record<string, number>>(result, 'evaluate', 'metrics');
      expect(scores[gate.metric]).toBeGreaterThan(baseConfig('evaluate').minMacroF1);
      const decision = await output<GateDecision>(result, 'gate', 'decision');
      expect(decision).toMatchObject({ decision: 'promoted', metric: gate.metric });
      expect(decision.candidate.value).toBe(scores[gate.metric]);
      const deployed = await output<DeployRecord>(result, 'deploy', 'deployment');
      expect(deployed).toMatchObject({ endpoint, version: decision.candidate.version, deployed: true });

      // The deployed model answers a complete row of the data (without its target) with one of the classes.
      const [header, ...lines] = readFileSync(join(projectDir, baseConfig('ingest').path), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(','));
      const values = lines.find((fields) => fields.every((field) => field !== ''))!;
      const row = Object.fromEntries(
        [...numeric, ...categorical].map((feature) => {
          const value = values[header!.indexOf(feature)]!;
          return [feature, numeric.includes(feature) ? Number(value) : value];
        }),
      );
      const serving = await deployer.create({
        storage,
        loaders,
        stateDir: join(stateDir, 'deploy'),
        mode: 'control',
      });
      try {
        const answer = await serving.predict(endpoint, [row]);
        expect(classes).toContain(answer.predictions[0]);
      } finally {
        await serving.close();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
