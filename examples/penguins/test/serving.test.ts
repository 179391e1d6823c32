import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCodes, type ModelManifest } from '@cairn/core';
import type { RunResult } from '@cairn/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Penguin } from '../src/penguin';
import { loadModel, type Prediction } from '../src/predict';
import type { PredictionRow } from '../steps/evaluate';
import { projectDir, type Sandbox, sandbox } from './helpers';

const run = promisify(execFile);

let box: Sandbox;
let result: RunResult;
let bundleDir: string;
let rawTest: Array<Omit<Penguin, 'species'>>;
let evaluated: PredictionRow[];
beforeAll(async () => {
  box = await sandbox();
  result = await box.run();
  expect(result.status).toBe('succeeded');
  bundleDir = await box.materialize(result.steps.train!.outputs.model!, 'tree');
  // Raw rows as a client sends them: no species, missing measurements as null.
  rawTest = (await box.readTable<Penguin>(result.steps.prepare!.outputs.test!)).map(
    ({ species, ...rest }) => rest,
  );
  evaluated = await box.readTable<PredictionRow>(result.steps.evaluate!.outputs.predictions!);
});
afterAll(() => box.dispose());

describe('the model bundle serves without the training code', () => {
  it('carries its flavor, library versions, signatures and preprocessing', async () => {
    const manifest = JSON.parse(await readFile(join(bundleDir, 'cairn-model.json'), 'utf8')) as ModelManifest;
    const forestVersion = JSON.parse(
      await readFile(join(projectDir, '../../node_modules/ml-random-forest/package.json'), 'utf8'),
    ).version;
    expect(manifest.flavor).toBe('ml-random-forest');
    expect(manifest.framework).toEqual({ name: 'ml-random-forest', version: forestVersion });
    expect(Object.keys(manifest.libraries ?? {}).sort()).toEqual(
      ['@cairn/tabular', 'ml-cart', 'ml-matrix', 'ml-random-forest'].sort(),
    );
    expect(Object.values(manifest.libraries ?? {}).every((v) => /^\d+\.\d+\.\d+/.test(v))).toBe(true);
    expect(manifest.signature.inputs).toEqual([
      { name: 'bill_length_mm', type: 'float64' },
      { name: 'bill_depth_mm', type: 'float64' },
      { name: 'flipper_length_mm', type: 'float64' },
      { name: 'body_mass_g', type: 'float64' },
      { name: 'island', type: 'category', values: ['Biscoe', 'Dream', 'Torgersen'] },
      { name: 'sex', type: 'category', values: ['FEMALE', 'MALE'] },
    ]);
    expect(manifest.signature.outputs[0]).toEqual({
      name: 'species',
      type: 'category',
      values: ['Adelie', 'Chinstrap', 'Gentoo'],
    });
    expect(manifest.preprocessing).toBe('preprocessing.json');
    const preprocessing = JSON.parse(await readFile(join(bundleDir, 'files', 'preprocessing.json'), 'utf8'));
    expect(preprocessing.numeric.map((n: { name: string }) => n.name)).toEqual(
      manifest.signature.inputs.filter((f) => f.type === 'float64').map((f) => f.name),
    );
  });

  it('predicts raw rows exactly as evaluate did', async () => {
    const served = await loadModel(bundleDir);
    const predictions = served.predict(rawTest);
    expect(predictions).toHaveLength(69);
    expect(predictions.map((p) => p.label)).toEqual(evaluated.map((r) => r.predicted));
    for (const [i, p] of predictions.entries()) {
      for (const label of served.labels) expect(p.probabilities[label]).toBe(evaluated[i]![`p_${label}`]);
    }
    // A penguin with every measurement missing is still served (imputed with the training medians).
    expect(served.predict([{ island: 'Biscoe', sex: null } as never])[0]!.label).toMatch(
      /Adelie|Chinstrap|Gentoo/,
    );
  });

  it('refuses a row outside the input signature, naming the column', async () => {
    const served = await loadModel(bundleDir);
    const bad = { ...rawTest[0]!, island: 'Atlantis' };
    expect(() => served.predict([bad])).toThrow(
      /column "island": "Atlantis" is not one of "Biscoe", "Dream", "Torgersen"/,
    );
    try {
      served.predict([{ ...rawTest[0]!, body_mass_g: '4200' as never }]);
      expect.unreachable();
    } catch (error) {
      expect((error as { code: string }).code).toBe(ErrorCodes.DATA_INVALID);
    }
  });

  it('serves from a separate Node process that loads only src/predict.ts', async () => {
    const rowsFile = join(box.dir, 'rows.json');
    await writeFile(rowsFile, JSON.stringify(rawTest));
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@cairn/source', '--import', 'tsx', 'src/predict.ts', bundleDir, rowsFile],
      { cwd: projectDir },
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Prediction);
    expect(lines.map((p) => p.label)).toEqual(evaluated.map((r) => r.predicted));
  });
});
