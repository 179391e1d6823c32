import { timeWindow } from '@cairn/tabular';
import { beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, project, runStep } from '../test/helpers';
import { ingest } from './ingest';
import { prepare } from './prepare';

let data: any;
beforeAll(async () => {
  data = (await runStep(ingest, baseConfig('ingest'))).data;
});
const run = (changes = {}, validation = { ok: true }) =>
  runStep(prepare, baseConfig('prepare', changes), { data, validation });

describe('prepare', () => {
  it('splits every usable row into exactly one part, as conf/base/prepare.yaml says', async () => {
    const p = project();
    const out = await run();
    const train = out.train.rows();
    const test = out.test.rows();
    const features = [...p.numeric, ...p.categorical];
    const present = data
      .rows()
      .filter((r: any) => r[p.target] !== null && features.some((f) => r[f] !== null));
    const usable = p.window ? timeWindow(present, p.window) : present;
    if (p.window) expect(usable.length).toBeLessThanOrEqual(present.length);
    expect(train.length + test.length).toBe(usable.length);
    expect(Math.abs(test.length / usable.length - p.testFraction)).toBeLessThan(0.05);
    expect(out.spec).toEqual({
      task: p.task,
      target: p.target,
      numeric: p.numeric,
      categorical: p.categorical,
    });
    if (p.split === 'stratified') {
      for (const label of new Set(usable.map((r: any) => r[p.target]))) {
        const all = usable.filter((r: any) => r[p.target] === label).length;
        if (all >= 2)
          expect(
            test.some((r: any) => r[p.target] === label),
            String(label),
          ).toBe(true);
      }
    }
    if (p.split === 'time') {
      const time = (r: any) => new Date(r[p.timeColumn!]).getTime();
      expect(Math.max(...train.map(time))).toBeLessThanOrEqual(Math.min(...test.map(time)));
    }
  });

  it('fits the preprocessing on the training rows only', async () => {
    const p = project();
    const out = await run({ impute: 'mean' });
    if (p.numeric.length === 0) return expect(out.preprocessor.numeric).toEqual([]);
    const name = p.numeric[0]!;
    const values = out.train
      .rows()
      .map((r: any) => r[name])
      .filter((v: any) => v !== null);
    const mean = values.reduce((a: number, b: number) => a + b, 0) / values.length;
    expect(out.preprocessor.numeric.find((n: any) => n.name === name).mean).toBeCloseTo(mean, 6);
  });

  it('the same seed gives the same split', async () => {
    expect((await run()).test.rows()).toEqual((await run()).test.rows());
  });

  it('refuses data that did not pass validation, and a target the data does not have', async () => {
    await expect(run({}, { ok: false })).rejects.toMatchObject({ code: 'CAIRN_DATA_INVALID' });
    await expect(run({ target: 'no_such_column' })).rejects.toMatchObject({
      code: 'CAIRN_DATA_INVALID',
      message: expect.stringContaining('no_such_column'),
    });
  });
});
