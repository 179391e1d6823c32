import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployRecord, GateDecision } from '@cairn/delivery';
import { runPipeline } from '@cairn/runtime';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { describe, expect, it } from 'vitest';
import config from '../cairn.config';
import { training } from '../pipelines/training';
import { projectDir } from './helpers';

describe('the training pipeline', () => {
  it('trains, registers, promotes and deploys a first model; a much worse one is refused and fails CI', async () => {
    const storage = memoryStore();
    const metadata = memoryMetadata();
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
      expect(good).toMatchObject({ decision: 'promoted', stage: 'production', failsCi: false });
      expect(good.candidate.value).toBeGreaterThan(0.9);
      const deployed = await output<DeployRecord>(first, 'deploy', 'deployment');
      expect(deployed).toMatchObject({
        endpoint: 'penguins',
        version: good.candidate.version,
        deployed: true,
      });

      // The endpoint answers raw rows with the promoted version.
      const serving = await deployer.create({
        storage,
        loaders,
        stateDir: join(stateDir, 'deploy'),
        mode: 'control',
      });
      try {
        const row = {
          island: 'Biscoe',
          bill_length_mm: 47.5,
          bill_depth_mm: 15,
          flipper_length_mm: 218,
          body_mass_g: 4950,
          sex: 'FEMALE',
        };
        const answer = await serving.predict('penguins', [row]);
        expect(answer.served.version).toBe(good.candidate.version);
        expect((answer.predictions[0] as { label: string }).label).toBe('Gentoo');
      } finally {
        await serving.close();
      }

      const worse = await run(['train.trees=1', 'train.maxDepth=1']);
      expect(worse.status).toBe('succeeded');
      const refused = await output<GateDecision>(worse, 'gate', 'decision');
      expect(refused).toMatchObject({ decision: 'kept', failsCi: true });
      expect((await metadata.getModelByStage('penguins', 'production'))?.version).toBe(
        good.candidate.version,
      );
      // Production did not change, so neither did the endpoint.
      expect(await output<DeployRecord>(worse, 'deploy', 'deployment')).toMatchObject({
        version: good.candidate.version,
        deployed: false,
      });
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
