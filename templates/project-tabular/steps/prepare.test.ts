import { beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, runStep } from '../test/helpers';
import { ingest } from './ingest';
import { prepare } from './prepare';

let data: any;
beforeAll(async () => {
  data = (await runStep(ingest, baseConfig('ingest'))).data;
});

describe('prepare', () => {
  it('splits stratified by species and fits the preprocessing on the training rows only', async () => {
    const out = await runStep(prepare, baseConfig('prepare'), { data, validation: { ok: true } });
    const train = out.train.rows();
    const test = out.test.rows();
    // The two unmeasured birds are dropped; every other row lands in exactly one split.
    expect(train.length + test.length).toBe(113);
    for (const species of ['Adelie', 'Chinstrap', 'Gentoo']) {
      const share = test.filter((r: any) => r.species === species).length;
      const all = share + train.filter((r: any) => r.species === species).length;
      expect(Math.abs(share / all - 0.25)).toBeLessThan(0.05);
    }
    const mass = out.preprocessor.numeric.find((n: any) => n.name === 'body_mass_g');
    const trainMasses = train.map((r: any) => r.body_mass_g).filter((v: any) => v !== null);
    const mean = trainMasses.reduce((a: number, b: number) => a + b, 0) / trainMasses.length;
    expect(mass.mean).toBeCloseTo(mean, 6);
  });

  it('the same seed gives the same split', async () => {
    const a = await runStep(prepare, baseConfig('prepare'), { data, validation: { ok: true } });
    const b = await runStep(prepare, baseConfig('prepare'), { data, validation: { ok: true } });
    expect(b.test.rows()).toEqual(a.test.rows());
  });

  it('refuses data that did not pass validation', async () => {
    await expect(
      runStep(prepare, baseConfig('prepare'), { data, validation: { ok: false } }),
    ).rejects.toMatchObject({ code: 'CAIRN_DATA_INVALID' });
  });
});
