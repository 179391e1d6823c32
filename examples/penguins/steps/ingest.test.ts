import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseConfig, project, projectDir, runStep } from '../test/helpers';
import { ingest } from './ingest';

describe('ingest', () => {
  it('reads the data file into a table with every column validate.yaml names, missing values as nulls', async () => {
    const { data, source } = await runStep(ingest, baseConfig('ingest'));
    const { columns, minRows, target } = project();
    expect(data.numRows).toBeGreaterThanOrEqual(minRows);
    const names = data.schema.fields.map((f: any) => f.name);
    for (const column of Object.keys(columns)) expect(names).toContain(column);
    for (const [name, rules] of Object.entries(columns)) {
      if (rules.type !== 'number') continue;
      const values = data.rows().map((r: any) => r[name]);
      expect(
        values.every((v: unknown) => v === null || typeof v === 'number'),
        name,
      ).toBe(true);
    }
    expect(data.rows().some((r: any) => r[target] === '')).toBe(false);
    // The source fingerprint is the digest of the file's bytes.
    const bytes = readFileSync(resolve(projectDir, baseConfig('ingest').path));
    expect(source.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(source.bytes).toBe(bytes.length);
  });

  it('names a data file that is not there (CAIRN_ARTIFACT_NOT_FOUND)', async () => {
    await expect(
      runStep(ingest, baseConfig('ingest', { path: 'data/no-such-file.csv' })),
    ).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_NOT_FOUND',
      message: expect.stringContaining('data/no-such-file.csv'),
    });
  });

  it('refuses a config without a path, or with a key it does not know', async () => {
    await expect(runStep(ingest, { missing: [] })).rejects.toThrow(/path/);
    await expect(runStep(ingest, { ...baseConfig('ingest'), pth: 'x.csv' })).rejects.toThrow(/pth/);
  });
});
