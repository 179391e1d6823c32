import { tableFromRows } from '@cairn/tabular';
import { beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, runStep } from '../test/helpers';
import { ingest } from './ingest';
import { validate } from './validate';

let rows: any[];
beforeAll(async () => {
  rows = (await runStep(ingest, baseConfig('ingest'))).data.rows();
});

describe('validate', () => {
  it('passes the sample data and writes an HTML report', async () => {
    const out = await runStep(validate, baseConfig('validate'), { data: tableFromRows(rows) });
    expect(out.validation.ok).toBe(true);
    expect(out.report.format).toBe('html');
    expect(out.report.content).toContain('bill_length_mm');
  });

  it('fails with CAIRN_DATA_INVALID naming a renamed column', async () => {
    const renamed = rows.map(({ body_mass_g, ...rest }) => ({ ...rest, mass: body_mass_g }));
    await expect(
      runStep(validate, baseConfig('validate'), { data: tableFromRows(renamed) }),
    ).rejects.toMatchObject({ code: 'CAIRN_DATA_INVALID', message: expect.stringMatching(/body_mass_g/) });
  });

  it('fails naming the column of a value out of range', async () => {
    const grams = rows.map((r, i) => (i === 5 ? { ...r, flipper_length_mm: 1900 } : r));
    await expect(
      runStep(validate, baseConfig('validate'), { data: tableFromRows(grams) }),
    ).rejects.toMatchObject({
      code: 'CAIRN_DATA_INVALID',
      message: expect.stringMatching(/flipper_length_mm/),
    });
  });
});
