import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactType, Handle, StorageDriver } from '@cairn/core';
import {
  dir,
  file,
  json,
  type Metrics,
  type ModelBundle,
  metrics,
  model,
  type Report,
  report,
} from '@cairn/core';
import { memoryStore } from '@cairn/testkit';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { localStore } from '../storage/local';
import { materializeArtifact, storeArtifact } from './io';

let work: string;
let storage: StorageDriver;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cairn-builtin-'));
  storage = memoryStore();
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

let counter = 0;
const ctx = (name = 'out') => ({ workdir: join(work, `workdir-${counter++}`), name });

/** serialize → store → materialize → deserialize, as the step runner does. */
async function roundTrip<T>(type: ArtifactType<T, string>, value: T, store = storage) {
  expect(type.check?.(value)).toBeUndefined();
  const stored = await storeArtifact(store, await type.serialize(value, ctx()));
  const path = await materializeArtifact(store, stored, type.form, join(work, `in-${counter++}`));
  const back = await type.deserialize({ path, ...stored }, ctx('in'));
  return { ...stored, path, back };
}

async function digestOf<T>(type: ArtifactType<T, string>, value: T, name = 'out'): Promise<string> {
  return (await storeArtifact(storage, await type.serialize(value, ctx(name)))).digest;
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('json', () => {
  it('stores canonical JSON: equal values in any key order have one digest', async () => {
    const a = await digestOf(json(), { b: [1, { y: 2, x: 1 }], a: 'é' });
    const b = await digestOf(json(), { a: 'é', b: [1, { x: 1, y: 2 }] });
    expect(a).toBe(b);
    expect(a).not.toBe(await digestOf(json(), { a: 'é', b: [{ x: 1, y: 2 }, 1] }));
    const { back } = await roundTrip(json(), { b: 2, a: [null, true] });
    expect(back).toEqual({ a: [null, true], b: 2 });
  });

  it.each([
    ['a function', () => 1, /function/],
    ['NaN', { score: Number.NaN }, /NaN/],
    ['a class instance', { when: new Map() }, /Map/],
    ['undefined', undefined, /undefined/],
    ['a bigint', { n: 1n }, /bigint/],
  ])('refuses %s', async (_what, value, message) => {
    expect(json().check?.(value)).toMatch(message);
    await expect(Promise.resolve().then(() => json().serialize(value as never, ctx()))).rejects.toMatchObject(
      {
        code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
      },
    );
  });

  it('validates with a Standard Schema when given, on write and on read', async () => {
    const params = json(z.object({ lr: z.number().positive(), layers: z.array(z.number()) }));
    expect(params.check?.({ lr: 0.1, layers: [3] })).toBeUndefined();
    expect(params.check?.({ lr: -1, layers: [3] })).toMatch(/^lr: /);
    await expect(params.serialize({ lr: -1, layers: [] }, ctx())).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
    });
    const { back } = await roundTrip(params, { lr: 0.1, layers: [3, 2] });
    expect(back).toEqual({ lr: 0.1, layers: [3, 2] });

    // What is stored must still match when read back (a file edited by hand, another writer).
    const raw = await storeArtifact(storage, { bytes: bytes('{"lr":"fast"}') });
    const path = await materializeArtifact(storage, raw, 'blob', join(work, 'raw.json'));
    await expect(params.deserialize({ path, ...raw }, ctx())).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
      message: expect.stringContaining('lr'),
    });
  });

  it('defers an async schema to serialize', async () => {
    const asyncSchema: StandardSchemaV1<unknown, { ok: true }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) =>
          (value as { ok?: unknown }).ok === true
            ? { value: value as { ok: true } }
            : { issues: [{ message: 'ok must be true', path: ['ok'] }] },
      },
    };
    const type = json(asyncSchema);
    expect(type.check?.({ ok: false })).toBeUndefined();
    await expect(type.serialize({ ok: false } as never, ctx())).rejects.toMatchObject({
      message: expect.stringContaining('ok: ok must be true'),
    });
  });
});

describe('metrics', () => {
  it('round-trips a flat map of finite numbers, canonically', async () => {
    const { back, digest } = await roundTrip(metrics(), { accuracy: 0.97, f1: 0.9 });
    expect(back).toEqual({ accuracy: 0.97, f1: 0.9 });
    expect(await digestOf(metrics(), { f1: 0.9, accuracy: 0.97 })).toBe(digest);
    expect(metrics().describe?.({ accuracy: 0.97 })).toEqual({ accuracy: 0.97 });
  });

  it.each([
    [{ accuracy: Number.NaN }, /accuracy.*finite/],
    [{ accuracy: Number.POSITIVE_INFINITY }, /accuracy.*finite/],
    [{ nested: { a: 1 } }, /nested/],
    [{ label: 'good' }, /label/],
    [[0.9], /flat map/],
    [null, /flat map/],
  ])('refuses %j', (value, message) => {
    expect(metrics().check?.(value)).toMatch(message);
    expect(() => metrics().serialize(value as never, ctx())).toThrow(
      expect.objectContaining({ code: 'CAIRN_ARTIFACT_TYPE_MISMATCH' }),
    );
  });
});

const manifest = () => ({
  flavor: 'ml-random-forest',
  framework: { name: 'ml-random-forest', version: '2.1.0' },
  signature: {
    inputs: [
      { name: 'bill_length_mm', type: 'float32' },
      { name: 'island', type: 'category', values: ['Biscoe', 'Dream', 'Torgersen'] },
    ],
    outputs: [{ name: 'species', type: 'category', values: ['Adelie', 'Chinstrap', 'Gentoo'] }],
  },
  libraries: { 'ml-random-forest': '2.1.0' },
  preprocessing: 'preprocess.json',
  metadata: { trainedOn: 'penguins', rows: 344 },
});

describe('model', () => {
  it('gives one digest whatever the key order of the manifest and the order files were added', async () => {
    const m = manifest();
    const first: ModelBundle = {
      manifest: m,
      files: {
        'model.json': '{"trees":3}',
        'weights/a.bin': new Uint8Array([1, 2, 3]),
        'preprocess.json': '{}',
      },
    };
    const second: ModelBundle = {
      manifest: {
        metadata: { rows: 344, trainedOn: 'penguins' },
        preprocessing: 'preprocess.json',
        libraries: { 'ml-random-forest': '2.1.0' },
        signature: { outputs: m.signature.outputs, inputs: m.signature.inputs },
        framework: { version: '2.1.0', name: 'ml-random-forest' },
        flavor: 'ml-random-forest',
      },
      files: {
        'preprocess.json': '{}',
        'weights/a.bin': new Uint8Array([1, 2, 3]),
        'model.json': '{"trees":3}',
      },
    };
    const a = await digestOf(model(), first, 'model');
    expect(await digestOf(model(), second, 'other-name')).toBe(a);
    expect(
      await digestOf(model(), { ...second, files: { ...second.files, 'model.json': '{"trees":4}' } }),
    ).not.toBe(a);
  });

  it('stores cairn-model.json and files/<name>, and reads every file back as bytes', async () => {
    const bundle: ModelBundle = {
      manifest: manifest(),
      files: { 'preprocess.json': '{"scale":2}', 'weights/layer 1.bin': new Uint8Array([0, 255, 7]) },
    };
    const { back, path } = await roundTrip(model(), bundle);
    expect((await readdir(path)).sort()).toEqual(['cairn-model.json', 'files']);
    expect(JSON.parse(await readFile(join(path, 'cairn-model.json'), 'utf8'))).toEqual(manifest());
    expect(back.manifest).toEqual(manifest());
    expect(back.files).toEqual({
      'preprocess.json': bytes('{"scale":2}'),
      'weights/layer 1.bin': new Uint8Array([0, 255, 7]),
    });
    expect(model().describe?.(bundle)).toEqual({
      flavor: 'ml-random-forest',
      framework: { name: 'ml-random-forest', version: '2.1.0' },
      inputs: 2,
      outputs: 1,
      files: 2,
    });
  });

  it.each(['../escape.bin', '/etc/passwd', 'a/../../b', 'a//b', './a', 'a\\b', ''])(
    'refuses the file name %j and writes nothing',
    async (name) => {
      const bundle = { manifest: { ...manifest(), preprocessing: undefined }, files: { [name]: 'x' } };
      expect(model().check?.(bundle)).toMatch(/files/);
      const where = ctx();
      await expect(model().serialize(bundle, where)).rejects.toMatchObject({
        code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
      });
      expect(await readdir(where.workdir).catch(() => [])).toEqual([]);
    },
  );

  it('checks the manifest', () => {
    const files = { 'preprocess.json': '{}' };
    expect(model().check?.({ manifest: { ...manifest(), flavor: '' }, files })).toMatch(/flavor/);
    expect(model().check?.({ manifest: { ...manifest(), preprocessing: 'missing.py' }, files })).toMatch(
      /missing\.py/,
    );
    expect(
      model().check?.({
        manifest: { ...manifest(), signature: { inputs: [{ name: 'x' }], outputs: [] } },
        files,
      }),
    ).toMatch(/signature\.inputs\[0\]/);
    expect(model().check?.({ manifest: manifest(), files: { 'preprocess.json': 42 } })).toMatch(
      /preprocess\.json/,
    );
    expect(
      model().check?.({ manifest: manifest(), files: { 'preprocess.json': '', 'preprocess.json/x': '' } }),
    ).toMatch(/both a file and a folder/);
  });
});

describe('report', () => {
  it('round-trips HTML with assets, and Markdown without', async () => {
    const html: Report = {
      format: 'html',
      title: 'Offline evaluation',
      content: '<h1>Scores</h1><img src="assets/roc.svg">',
      assets: { 'roc.svg': '<svg/>', 'img/logo.png': new Uint8Array([137, 80]) },
    };
    const { back, path } = await roundTrip(report(), html);
    expect((await readdir(path)).sort()).toEqual(['assets', 'index.html', 'report.json']);
    expect(back).toEqual({
      ...html,
      assets: { 'roc.svg': bytes('<svg/>'), 'img/logo.png': new Uint8Array([137, 80]) },
    });

    const md = await roundTrip(report(), { format: 'markdown', content: '# Scores\n' });
    expect((await readdir(md.path)).sort()).toEqual(['index.md', 'report.json']);
    expect(md.back).toEqual({ format: 'markdown', content: '# Scores\n' });
  });

  it('gives one digest whatever the order of assets', async () => {
    const a = await digestOf(report(), {
      format: 'html',
      content: 'x',
      assets: { 'a.svg': '1', 'b.svg': '2' },
    });
    const b = await digestOf(report(), {
      content: 'x',
      assets: { 'b.svg': '2', 'a.svg': '1' },
      format: 'html',
    });
    expect(a).toBe(b);
  });

  it('refuses malformed reports', () => {
    expect(report().check?.({ format: 'pdf', content: '' })).toMatch(/format/);
    expect(report().check?.({ format: 'html', content: 3 })).toMatch(/content/);
    expect(report().check?.({ format: 'html', content: '', assets: { '../x': '' } })).toMatch(/assets/);
  });
});

describe('file and dir', () => {
  it('file: streams the file in, and hands the next step a verified path', async () => {
    const source = join(work, 'data.csv');
    await writeFile(source, 'a,b\n1,2\n');
    expect(file().check?.(join(work, 'missing.csv'))).toMatch(/no such file/);
    expect(file().check?.(work)).toMatch(/not a regular file/);
    expect(file().serialize(source, ctx())).toEqual({ file: source });

    const store = localStore(join(work, 'store'));
    const { back, digest } = await roundTrip(file(), source, store);
    expect(back).toBe(await store.localPath?.(digest));
    expect(await readFile(back, 'utf8')).toBe('a,b\n1,2\n');

    const copied = await roundTrip(file(), source);
    expect(copied.back.startsWith(work)).toBe(true);
    expect(await readFile(copied.back, 'utf8')).toBe('a,b\n1,2\n');
  });

  it('dir: packs the folder and hands the next step an extracted copy', async () => {
    const source = join(work, 'out');
    await mkdir(join(source, 'nested'), { recursive: true });
    await writeFile(join(source, 'nested', 'x.txt'), 'x');
    expect(dir().check?.(join(source, 'nested', 'x.txt'))).toMatch(/not a folder/);
    expect(dir().check?.(join(work, 'nope'))).toMatch(/no such folder/);
    const { back } = await roundTrip(dir(), source);
    expect(back).not.toBe(source);
    expect(await readFile(join(back, 'nested', 'x.txt'), 'utf8')).toBe('x');
  });
});

describe('types', () => {
  it('carry distinct value types and names into pipeline handles', () => {
    expectTypeOf(json<{ lr: number }>()).toEqualTypeOf<ArtifactType<{ lr: number }, 'json'>>();
    expectTypeOf(metrics()).toEqualTypeOf<ArtifactType<Metrics, 'metrics'>>();
    expectTypeOf(model()).toEqualTypeOf<ArtifactType<ModelBundle, 'model'>>();
    expectTypeOf(report()).toEqualTypeOf<ArtifactType<Report, 'report'>>();
    expectTypeOf(file()).toEqualTypeOf<ArtifactType<string, 'file'>>();
    expectTypeOf(dir()).toEqualTypeOf<ArtifactType<string, 'dir'>>();
    expectTypeOf<Handle<string, 'file'>>().not.toMatchTypeOf<Handle<string, 'dir'>>();
    expectTypeOf<Handle<Metrics, 'metrics'>>().not.toMatchTypeOf<Handle<ModelBundle, 'model'>>();
    expectTypeOf<Handle<{ lr: number }, 'json'>>().not.toMatchTypeOf<Handle<{ lr: string }, 'json'>>();
  });
});
