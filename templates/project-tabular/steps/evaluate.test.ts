import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accuracy, evaluate } from './evaluate';
import { dropIncomplete, parseCsv } from './ingest';
import { fit, split } from './train';

const features = ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'];
const rows = dropIncomplete(parseCsv(readFileSync('data/penguins.csv', 'utf8')), ['species', ...features]);
const { train, holdout } = split(rows, 4);
const model = fit(train, 'species', features);

/** What the orchestrator hands a step, for calling its run function directly. */
function context<C, I>(config: C, inputs: I) {
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  return {
    config,
    inputs,
    log,
    signal: new AbortController().signal,
    workdir: '.',
    step: 'evaluate',
    runId: 'test',
    attempt: 1,
  };
}

describe('evaluate', () => {
  it('scores the sample data well above chance', () => {
    expect(accuracy(model, holdout)).toBeGreaterThan(0.8);
  });

  it('passes the gate and reports metrics', async () => {
    const run = (evaluate.definition as any).run;
    const out = await run(context({ minAccuracy: 0.5 }, { model, holdout }));
    expect(out.metrics.accuracy).toBeGreaterThan(0.8);
    expect(out.metrics.holdoutRows).toBe(holdout.length);
  });

  it('fails the gate below the threshold', async () => {
    const run = (evaluate.definition as any).run;
    await expect(run(context({ minAccuracy: 1.01 }, { model, holdout }))).rejects.toMatchObject({
      code: 'CAIRN_GATE_REFUSED',
    });
  });
});
