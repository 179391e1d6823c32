import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, sandbox } from './helpers';

let box: Sandbox;
let other: Sandbox;
beforeAll(async () => {
  [box, other] = await Promise.all([sandbox(), sandbox()]);
});
afterAll(() => Promise.all([box.dispose(), other.dispose()]));

describe('reproducibility', () => {
  it('gives bit-identical model and metrics artifacts on every run with caching off', async () => {
    const first = await box.run({ noCache: true });
    const second = await box.run({ noCache: true });
    // A separate store and metadata file: nothing can be shared between these runs.
    const elsewhere = await other.run({ noCache: true });
    for (const run of [first, second, elsewhere]) {
      expect(run.status).toBe('succeeded');
      // noCache really re-executed every step.
      for (const outcome of Object.values(run.steps)) expect(outcome.status).toBe('succeeded');
    }
    const digests = (run: typeof first) => ({
      data: run.steps.ingest!.outputs.data!.digest,
      train: run.steps.prepare!.outputs.train!.digest,
      test: run.steps.prepare!.outputs.test!.digest,
      preprocessor: run.steps.prepare!.outputs.preprocessor!.digest,
      model: run.steps.train!.outputs.model!.digest,
      trainingMetrics: run.steps.train!.outputs.metrics!.digest,
      metrics: run.steps.evaluate!.outputs.metrics!.digest,
      report: run.steps.evaluate!.outputs.report!.digest,
      predictions: run.steps.evaluate!.outputs.predictions!.digest,
    });
    expect(digests(second)).toEqual(digests(first));
    expect(digests(elsewhere)).toEqual(digests(first));
    // The same bytes register as the same version, already in production.
    expect(await box.metadata.listModelVersions('penguins')).toHaveLength(1);
  });

  it('gives a different model for a different seed', async () => {
    const seeded = await box.run({ overrides: { train: { seed: 7 } } });
    expect(seeded.status).toBe('succeeded');
    const base = await box.run();
    expect(seeded.steps.train!.outputs.model!.digest).not.toBe(base.steps.train!.outputs.model!.digest);
    // Unchanged upstream steps came from the cache.
    expect(base.steps.prepare!.status).toBe('cached');
  });
});
