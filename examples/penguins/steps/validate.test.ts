import { tableFromRows } from '@cairn/tabular';
import { beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, project, runStep } from '../test/helpers';
import { ingest } from './ingest';
import { validate } from './validate';

let rows: any[];
let schema: Record<string, any>;
beforeAll(async () => {
  const { data } = await runStep(ingest, baseConfig('ingest'));
  rows = data.rows();
  schema = Object.fromEntries(data.schema.fields.map((f: any) => [f.name, f.type]));
});
const check = (data: any[]) =>
  runStep(validate, baseConfig('validate'), { data: tableFromRows(data, { schema }) });

describe('validate (the rules of conf/base/validate.yaml)', () => {
  it('passes the project data and writes an HTML report naming every column', async () => {
    const out = await check(rows);
    expect(out.validation.ok).toBe(true);
    expect(out.report.format).toBe('html');
    for (const column of Object.keys(project().columns)) expect(out.report.content).toContain(column);
  });

  it('fails with CAIRN_DATA_INVALID naming a column that disappeared', async () => {
    const [column] = Object.keys(project().columns);
    const renamed = rows.map(({ [column!]: value, ...rest }) => ({ ...rest, renamed_column: value }));
    const { [column!]: _, ...rest } = schema;
    await expect(
      runStep(validate, baseConfig('validate'), { data: tableFromRows(renamed, { schema: rest }) }),
    ).rejects.toMatchObject({ code: 'CAIRN_DATA_INVALID', message: expect.stringContaining(column!) });
  });

  it('fails naming the column of a value out of its range', async () => {
    const ranged = Object.entries(project().columns).find(
      ([, r]) => r.type === 'number' && typeof r.max === 'number',
    );
    expect(ranged, 'validate.yaml gives at least one number column a range').toBeDefined();
    const [name, rules] = ranged!;
    const far = (rules.max as number) + Math.abs(rules.max as number) * 10 + 1000;
    const broken = rows.map((r, i) => (i === 0 ? { ...r, [name]: far } : r));
    await expect(check(broken)).rejects.toMatchObject({
      code: 'CAIRN_DATA_INVALID',
      message: expect.stringContaining(name),
    });
  });

  it('fails naming the column of a category it does not allow', async () => {
    const listed = Object.entries(project().columns).find(([, r]) => r.type === 'string' && r.allowed);
    if (!listed) return expect(Object.values(project().columns).some((r) => r.allowed)).toBe(false);
    const [name] = listed;
    const broken = rows.map((r, i) => (i === 0 ? { ...r, [name]: 'a value nobody expects' } : r));
    await expect(check(broken)).rejects.toMatchObject({
      code: 'CAIRN_DATA_INVALID',
      message: expect.stringContaining(name),
    });
  });
});
