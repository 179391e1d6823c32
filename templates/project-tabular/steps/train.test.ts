import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromBundle } from '../src/predict';
import { baseConfig, runStep } from '../test/helpers';
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
  runStep(train, baseConfig('train', changes), { train: split.train, preprocessor: split.preprocessor });

describe('train and evaluate', () => {
  it('bundles a model that serves raw rows with its own preprocessing', async () => {
    const { model, metrics } = await trainOn();
    expect(metrics.train_accuracy).toBeGreaterThan(0.95);
    expect(model.manifest.flavor).toBe('ml-random-forest');
    expect(model.manifest.signature.outputs[0].values).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    const served = modelFromBundle(model);
    const [gentoo] = served.predict([
      {
        island: 'Biscoe',
        bill_length_mm: 47.5,
        bill_depth_mm: 15,
        flipper_length_mm: 218,
        body_mass_g: 4950,
        sex: 'FEMALE',
      },
    ]);
    expect(gentoo!.label).toBe('Gentoo');
    // A row the model was not trained for is refused, naming the column.
    expect(() => served.predict([{ island: 'Mars' }])).toThrow(/column "island": "Mars" is not one of/);
  });

  it('the same data and config give the same bytes', async () => {
    const a = await trainOn();
    const b = await trainOn();
    expect(b.model.files['model.json']).toBe(a.model.files['model.json']);
  });

  it('scores well on the held-out rows and reports the confusion matrix', async () => {
    const { model } = await trainOn();
    const out = await runStep(evaluate, baseConfig('evaluate'), { model, test: split.test });
    expect(out.metrics.macro_f1).toBeGreaterThan(0.9);
    expect(out.metrics.test_rows).toBe(split.test.numRows);
    expect(out.report.content).toContain('Confusion matrix');
    expect(out.report.content).toContain('<svg');
  });

  it('a one-split stump scores far worse, and the floor refuses it', async () => {
    const { model } = await trainOn({ trees: 1, maxDepth: 1 });
    const out = await runStep(evaluate, baseConfig('evaluate', { minMacroF1: 0 }), {
      model,
      test: split.test,
    });
    expect(out.metrics.macro_f1).toBeLessThan(0.8);
    await expect(
      runStep(evaluate, baseConfig('evaluate', { minMacroF1: 0.9 }), { model, test: split.test }),
    ).rejects.toMatchObject({ code: 'CAIRN_GATE_REFUSED' });
  });
});
