import { describe, expect, it } from 'vitest';
import { baseConfig, runStep } from '../test/helpers';
import { ingest } from './ingest';

describe('ingest', () => {
  it('reads the sample CSV into a typed table with missing values as nulls', async () => {
    const { data } = await runStep(ingest, baseConfig('ingest'));
    expect(data.numRows).toBe(115);
    const rows = data.rows();
    expect(new Set(rows.map((r: any) => r.species))).toEqual(new Set(['Adelie', 'Chinstrap', 'Gentoo']));
    expect(typeof rows[0].body_mass_g).toBe('number');
    // Two birds were never measured; their cells are nulls, not empty strings.
    expect(rows.filter((r: any) => r.bill_length_mm === null)).toHaveLength(2);
  });

  it('refuses a config without a path', async () => {
    await expect(runStep(ingest, { missing: [] })).rejects.toThrow(/path/);
  });
});
