import { describe, expect, it } from 'vitest';
import { baseConfig, runStep } from '../test/helpers';
import { drift } from './drift';
import { ingest } from './ingest';

const read = async (node: string) => (await runStep(ingest, baseConfig(node))).data;

describe('drift', () => {
  it('flags the live sample: Biscoe birds only, so more Gentoo, deeper-set bills, longer flippers, heavier', async () => {
    const out = await runStep(drift, baseConfig('drift'), {
      reference: await read('ingest'),
      current: await read('live'),
    });
    expect(out.drift.drifted).toBe(true);
    expect(out.drift.driftedColumns).toEqual([
      'species',
      'island',
      'bill_depth_mm',
      'flipper_length_mm',
      'body_mass_g',
    ]);
    // The sexes are balanced on every island: no drift there.
    expect(out.drift.columns.find((c: any) => c.column === 'sex').drifted).toBe(false);
    expect(out.report.format).toBe('html');
    expect(out.report.content).toContain('<h2>body_mass_g</h2>');
    expect(out.report.content).toContain('<svg');
  });

  it('finds no drift when the live data is the training data', async () => {
    const reference = await read('ingest');
    const out = await runStep(drift, baseConfig('drift'), { reference, current: reference });
    expect(out.drift.drifted).toBe(false);
  });

  it('counts a column missing from the live data as drift', async () => {
    const { tableFromRows } = await import('@cairn/tabular');
    const live = (await read('live')).rows().map(({ body_mass_g, ...rest }: any) => rest);
    const out = await runStep(drift, baseConfig('drift', { ignore: ['species'] }), {
      reference: await read('ingest'),
      current: tableFromRows(live),
    });
    expect(out.drift.columns.map((c: any) => c.column)).not.toContain('species');
    expect(out.drift.columns.find((c: any) => c.column === 'body_mass_g').reasons).toEqual([
      'the column is missing from the current data',
    ]);
  });
});
