import { tableFromRows } from '@cairn/tabular';
import { beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, project, runStep } from '../test/helpers';
import { drift } from './drift';
import { ingest } from './ingest';

let reference: any;
beforeAll(async () => {
  reference = (await runStep(ingest, baseConfig('ingest'))).data;
});
const schemaOf = (table: any) => Object.fromEntries(table.schema.fields.map((f: any) => [f.name, f.type]));

describe('drift', () => {
  it('finds no drift when the live data is the training data', async () => {
    const out = await runStep(drift, baseConfig('drift'), { reference, current: reference });
    expect(out.drift.drifted).toBe(false);
  });

  it('flags a measurement that moved far from the training data, and draws it in the report', async () => {
    const name = project().numeric[0];
    if (name === undefined) return expect(project().numeric).toEqual([]);
    const values = reference
      .rows()
      .map((r: any) => r[name])
      .filter((v: any) => v !== null);
    const spread = Math.max(...values) - Math.min(...values) || 1;
    const moved = reference
      .rows()
      .map((r: any) => ({ ...r, [name]: r[name] === null ? null : r[name] + 3 * spread }));
    const out = await runStep(drift, baseConfig('drift'), {
      reference,
      current: tableFromRows(moved, { schema: schemaOf(reference) }),
    });
    expect(out.drift.drifted).toBe(true);
    expect(out.drift.driftedColumns).toContain(name);
    expect(out.report.format).toBe('html');
    expect(out.report.content).toContain(`<h2>${name}</h2>`);
  });

  it('counts a column missing from the live data as drift', async () => {
    const name = project().numeric[0] ?? project().categorical[0]!;
    const { [name]: _, ...schema } = schemaOf(reference);
    const live = reference.rows().map(({ [name]: _, ...rest }: any) => rest);
    const out = await runStep(drift, baseConfig('drift'), {
      reference,
      current: tableFromRows(live, { schema }),
    });
    expect(out.drift.columns.find((c: any) => c.column === name).reasons).toEqual([
      'the column is missing from the current data',
    ]);
  });
});
