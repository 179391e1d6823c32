import { type GateDecision, memoryMetadata, memoryStore, runPipeline } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { training } from '../pipelines/training';
import { projectDir } from './helpers';

describe('the training pipeline', () => {
  it('trains, registers and promotes a first model; a much worse one is refused and fails CI', async () => {
    const storage = memoryStore();
    const metadata = memoryMetadata();
    const run = (overrides: string[] = []) =>
      runPipeline(training, { storage, metadata, projectDir, overrides, tmpDir: `${projectDir}/.cairn/tmp` });
    const decisionOf = async (result: Awaited<ReturnType<typeof run>>) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of await storage.get(result.steps.gate!.outputs.decision!.digest))
        chunks.push(chunk);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as GateDecision;
    };

    const first = await run();
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    const good = await decisionOf(first);
    expect(good).toMatchObject({ decision: 'promoted', stage: 'production', failsCi: false });
    expect(good.candidate.value).toBeGreaterThan(0.9);

    const worse = await run(['train.trees=1', 'train.maxDepth=1']);
    expect(worse.status).toBe('succeeded');
    const refused = await decisionOf(worse);
    expect(refused).toMatchObject({ decision: 'kept', failsCi: true });
    expect((await metadata.getModelByStage('penguins', 'production'))?.version).toBe(good.candidate.version);
  });
});
