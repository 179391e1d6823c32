import { join } from 'node:path';
import { isPipeline, stackFor } from '@cairn/core';
import type { GateDecision, Registration } from '@cairn/delivery';
import { importModule, loadProjectConfig, type RunResult } from '@cairn/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Penguin } from '../src/penguin';
import { projectDir, type Sandbox, sandbox } from './helpers';

let box: Sandbox;
let result: RunResult;
beforeAll(async () => {
  box = await sandbox();
});
afterAll(() => box.dispose());

describe('the training pipeline on the real penguins data', () => {
  it('trains, evaluates, registers and gates a model with macro-F1 above 0.9 on held-out rows', async () => {
    result = await box.run();
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(Object.keys(result.steps).sort()).toEqual(
      ['evaluate', 'gate', 'ingest', 'prepare', 'register', 'train', 'validate'].sort(),
    );

    const scores = await box.readJson<Record<string, number>>(result.steps.evaluate!.outputs.metrics!);
    // 69 held-out penguins of 342 with measurements: the split is stratified, 20 % per species.
    expect(scores.test_rows).toBe(69);
    expect(scores.macro_f1).toBeGreaterThan(0.9);
    expect(scores.accuracy).toBeGreaterThan(0.9);
    for (const species of ['Adelie', 'Chinstrap', 'Gentoo']) {
      expect(scores[`precision.${species}`]).toBeGreaterThan(0.8);
      expect(scores[`recall.${species}`]).toBeGreaterThan(0.8);
      expect(scores[`auc.${species}`]).toBeGreaterThan(0.95);
    }

    const registration = await box.readJson<Registration>(result.steps.register!.outputs.registration!);
    expect(registration).toMatchObject({ model: 'penguins', version: 1 });
    expect(registration.digest).toBe(result.steps.train!.outputs.model!.digest);
    const version = await box.metadata.getModelVersion('penguins', 1);
    expect(version?.metrics.macro_f1).toBe(scores.macro_f1);
    expect(version?.runId).toBe(result.runId);

    const decision = await box.readJson<GateDecision>(result.steps.gate!.outputs.decision!);
    expect(decision).toMatchObject({ decision: 'promoted', stage: 'production', metric: 'macro_f1' });
    expect((await box.metadata.getModelByStage('penguins', 'production'))?.version).toBe(1);
  });

  it('learns the preprocessing on the training split only', async () => {
    const outputs = result.steps.prepare!.outputs;
    const state = await box.readJson<{ numeric: Array<{ name: string; mean: number }> }>(
      outputs.preprocessor!,
    );
    const trainRows = await box.readTable<Penguin>(outputs.train!);
    const testRows = await box.readTable<Penguin>(outputs.test!);
    expect(trainRows.length + testRows.length).toBe(342);
    const mean = (rows: Penguin[]) => {
      const values = rows.map((r) => r.bill_length_mm).filter((v): v is number => v !== null);
      return values.reduce((a, b) => a + b, 0) / values.length;
    };
    const bill = state.numeric.find((n) => n.name === 'bill_length_mm')!;
    expect(bill.mean).toBeCloseTo(mean(trainRows), 10);
    expect(Math.abs(bill.mean - mean([...trainRows, ...testRows]))).toBeGreaterThan(1e-6);
  });

  it('is a project the CLI can load: cairn.config.ts with a ci environment, and the pipeline module', async () => {
    const { config } = await loadProjectConfig(projectDir);
    const local = stackFor(config, 'local');
    expect(local.storage?.name).toBe('local');
    expect(local.metadata?.name).toBe('sqlite');
    expect(stackFor(config, 'ci').executor).toBeDefined();
    const module = await importModule(join(projectDir, 'pipelines', 'training.ts'));
    expect(isPipeline(module.default)).toBe(true);
    expect(module.default).toBe(module.training);
    expect((module.default as { nodes: Array<{ name: string }> }).nodes.map((n) => n.name)).toEqual([
      'ingest',
      'validate',
      'prepare',
      'train',
      'evaluate',
      'register',
      'gate',
    ]);
  });
});
