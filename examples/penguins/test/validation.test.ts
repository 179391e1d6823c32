import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ErrorCodes } from '@cairn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSource } from '../steps/ingest';
import { projectDir, type Sandbox, sandbox } from './helpers';

let box: Sandbox;
let records: Array<Record<string, unknown>>;
beforeAll(async () => {
  box = await sandbox();
  records = JSON.parse(await readFile(defaultSource, 'utf8'));
});
afterAll(() => box.dispose());

/** Run the pipeline on a corrupted copy of the data and return the run. */
async function runOn(name: string, rows: Array<Record<string, unknown>>) {
  const path = join(box.dir, name);
  await writeFile(path, JSON.stringify(rows));
  return box.run({ overrides: { ingest: { path } } });
}

describe('data validation stops a run on bad data', () => {
  it('fails the validate step naming a renamed column, and registers nothing', async () => {
    const renamed = records.map(({ 'Flipper Length (mm)': flipper, ...rest }) => ({
      ...rest,
      'Flipper (mm)': flipper,
    }));
    const result = await runOn('renamed.json', renamed);
    expect(result.status).toBe('failed');
    expect(result.error?.step).toBe('validate');
    expect(result.error?.message).toMatch(/column "flipper_length_mm" is missing/);
    expect(result.error?.code).toBe(ErrorCodes.DATA_INVALID);
    expect(result.steps.ingest!.status).toBe('succeeded');
    for (const downstream of ['prepare', 'train', 'evaluate', 'register', 'gate']) {
      expect(result.steps[downstream]!.status).toBe('skipped');
    }
    expect(await box.metadata.listModels()).toEqual([]);
  });

  it('fails the validate step naming a column with a value out of range, and registers nothing', async () => {
    // One body mass typed in kilograms instead of grams.
    const outOfRange = records.map((r, i) => (i === 17 ? { ...r, 'Body Mass (g)': 4.2 } : r));
    const result = await runOn('out-of-range.json', outOfRange);
    expect(result.status).toBe('failed');
    expect(result.error?.step).toBe('validate');
    expect(result.error?.message).toMatch(
      /column "body_mass_g" has 1 values outside \[2000, 7000\], e\.g\. 4\.2/,
    );
    expect(result.steps.register!.status).toBe('skipped');
    expect(await box.metadata.listModels()).toEqual([]);
    expect(await box.metadata.listModelVersions('penguins')).toEqual([]);
  });

  it('passes the real data, its path given relative to the project folder', async () => {
    const path = relative(projectDir, defaultSource);
    expect(path.startsWith('..')).toBe(true);
    const result = await box.run({ overrides: { ingest: { path } } });
    expect(result.status).toBe('succeeded');
    expect((await box.metadata.listModels()).map((m) => m.model)).toEqual(['penguins']);
  });
});
