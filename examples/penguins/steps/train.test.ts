import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromBundle } from '../src/predict';
import { baseConfig, project, runStep } from '../test/helpers';
import { evaluate } from './evaluate';
import { ingest } from './ingest';
import { prepare } from './prepare';
import { train } from './train';

let split: any;
beforeAll(async () => {
  const { data } = await runStep(ingest, baseConfig('ingest'));
  split = await runStep(prepare, baseConfig('prepare'), { data, validation: { ok: true } });
});
const trainOn = (changes = {}) =>
  runStep(train, baseConfig('train', changes), {
    train: split.train,
    preprocessor: split.preprocessor,
    spec: split.spec,
  });

describe('train and evaluate', () => {
  it('bundles a model that serves raw rows with its own preprocessing', async () => {
    const { task, target } = project();
    const { model } = await trainOn();
    expect(model.manifest.flavor).toBe('ml-random-forest');
    const served = modelFromBundle(model);
    expect(served.task).toBe(task);
    const testRows = split.test.rows();
    const predictions = served.predict(testRows);
    expect(predictions).toHaveLength(testRows.length);
    if (task === 'classification') {
      const trained = [...new Set(split.train.rows().map((r: any) => String(r[target])))].sort();
      expect(model.manifest.signature.outputs[0]).toMatchObject({ name: target, values: trained });
      for (const p of predictions as any[]) {
        expect(trained).toContain(p.label);
        const total = Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
        expect(total).toBeCloseTo(1, 9);
      }
    } else {
      expect(model.manifest.signature.outputs[0]).toEqual({ name: target, type: 'float64' });
      expect(predictions.every((p: any) => Number.isFinite(p.value))).toBe(true);
    }
    // Rows the model was not trained for are refused, not predicted.
    expect(() =>
      served.predict([{ ...testRows[0], [served.manifest.signature.inputs[0]!.name]: {} }]),
    ).toThrow(/row 0/);
  });

  it('is reproducible: the same data and config give the same bundle', async () => {
    const a = await trainOn();
    const b = await trainOn();
    expect(b.model.files['model.json']).toBe(a.model.files['model.json']);
  });

  it('beats the baseline on the held-out rows, and the report says how', async () => {
    const { task } = project();
    const { model } = await trainOn();
    const out = await runStep(evaluate, baseConfig('evaluate'), { model, test: split.test });
    expect(out.metrics.test_rows).toBe(split.test.numRows);
    if (task === 'classification') {
      expect(out.metrics.macro_f1).toBeGreaterThan(out.metrics.baseline_macro_f1);
      expect(out.report.content).toContain('Confusion matrix');
      expect(out.report.content).toContain('Class balance');
    } else {
      expect(out.metrics.rmse).toBeLessThan(out.metrics.baseline_rmse);
      expect(out.report.content).toContain('Predicted vs actual');
      expect(out.report.content).toContain('Residuals');
    }
    expect(out.report.content).toContain('Feature importance');
  });

  it('a floor above what the model reaches refuses it', async () => {
    const { task } = project();
    const { model } = await trainOn({ trees: 1, maxDepth: 1 });
    const key = task === 'classification' ? 'minMacroF1' : 'minR2';
    const loose = await runStep(evaluate, baseConfig('evaluate', { beatBaseline: false, [key]: 0 }), {
      model,
      test: split.test,
    }).catch((e) => e);
    const reached = task === 'classification' ? loose.metrics?.macro_f1 : loose.metrics?.r2;
    // A one-split stump can sit below 0 R²; then 0 already refuses it.
    if (reached === undefined) return expect(loose).toMatchObject({ code: 'CAIRN_GATE_REFUSED' });
    expect(reached).toBeLessThan(1);
    await expect(
      runStep(evaluate, baseConfig('evaluate', { beatBaseline: false, [key]: Math.min(1, reached + 1e-6) }), {
        model,
        test: split.test,
      }),
    ).rejects.toMatchObject({ code: 'CAIRN_GATE_REFUSED' });
  });

  it('refuses a config the schema does not allow (unknown keys, unbounded values)', async () => {
    await expect(trainOn({ tres: 5 })).rejects.toThrow(/tres/);
    await expect(trainOn({ trees: 1e9 })).rejects.toThrow(/trees/);
    await expect(
      runStep(evaluate, baseConfig('evaluate', { calibrationBins: 1e9 }), { model: {}, test: split.test }),
    ).rejects.toThrow(/calibrationBins/);
  });
});
