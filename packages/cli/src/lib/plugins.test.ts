// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STACK_SLOTS } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { manifestProblems, pluginCall, readManifest, resolvePluginName, STACK_KINDS } from './plugins';

const pluginsDir = fileURLToPath(new URL('../../../../plugins', import.meta.url));

describe('stack kinds', () => {
  it("the CLI's start-up copy of the kinds is the core's slot list, in its order", () => {
    // The copy keeps @cairn/core out of every command's start; a slot added to the core must be added here.
    expect([...STACK_KINDS]).toEqual([...STACK_SLOTS]);
  });
});

describe('the "cairn" package.json field', () => {
  it('every plugin of this repository declares a valid one, with the factory it exports', () => {
    const names = readdirSync(pluginsDir);
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) {
      const pjson = JSON.parse(readFileSync(join(pluginsDir, name, 'package.json'), 'utf8'));
      expect(manifestProblems(pjson.cairn), name).toEqual([]);
      const manifest = readManifest(pjson.name, pjson.cairn);
      expect(name, 'the folder is <kind>-<id> (deploy-<id> for deployers)').toBe(
        `${manifest.kind === 'deployer' ? 'deploy' : manifest.kind}-${manifest.id}`,
      );
      const source = readFileSync(join(pluginsDir, name, 'src', 'index.ts'), 'utf8');
      expect(source, `${name} exports ${manifest.factory} as its default`).toMatch(
        new RegExp(`export default ${manifest.factory};`),
      );
      for (const variable of manifest.env) {
        expect(manifest.options.join('\n'), `${name}: ${variable.name}`).toContain(
          `\${env:${variable.name}}`,
        );
      }
    }
  });

  it('reads defaults and multi-line options, indented where the call starts', () => {
    const manifest = readManifest('@acme/storage-gcs', {
      kind: 'storage',
      id: 'gcs',
      options: ['{', "  bucket: '${env:GCS_BUCKET}',", '}'],
    });
    expect(manifest).toMatchObject({ factory: 'gcsStorage', env: [], team: false });
    expect(pluginCall(manifest, '    ')).toBe("gcsStorage({\n      bucket: '${env:GCS_BUCKET}',\n    })");
    expect(pluginCall(readManifest('x', { kind: 'abtest', id: 'local' }), '')).toBe('localAbtest()');
  });

  it('names every problem of a malformed field, with code CAIRN_PLUGIN_INVALID', () => {
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /no "cairn"/],
      [{ kind: 'storage' }, /"id" must be/],
      [{ kind: 'Storage', id: 'x' }, /"kind" must be/],
      [{ kind: 'storage', id: 'x', factory: 'not an identifier' }, /"factory" must be/],
      [{ kind: 'storage', id: 'x', options: '{ a: (' }, /"options" must be one balanced/],
      [{ kind: 'storage', id: 'x', options: 42 }, /"options" must be a string/],
      [{ kind: 'storage', id: 'x', env: [{ name: 'A B', doc: 'd', example: 'e' }] }, /"env" must be/],
      [{ kind: 'storage', id: 'x', team: 'yes' }, /"team" must be/],
    ];
    for (const [field, problem] of cases) {
      let error: { code?: string; message?: string } | undefined;
      try {
        readManifest('@acme/bad', field);
      } catch (caught) {
        error = caught as typeof error;
      }
      expect(error?.code, JSON.stringify(field)).toBe('CAIRN_PLUGIN_INVALID');
      expect(error?.message).toMatch(/@acme\/bad is not a Cairn plugin/);
      expect(error?.message).toMatch(problem);
    }
  });
});

describe('plugin names', () => {
  it('short names are our packages; scoped names are taken as they are', () => {
    expect(resolvePluginName('storage-s3')).toEqual({ package: '@cairn/storage-s3', short: 'storage-s3' });
    expect(resolvePluginName('@cairn/deploy-local')).toEqual({
      package: '@cairn/deploy-local',
      short: 'deploy-local',
    });
    expect(resolvePluginName('@acme/storage-gcs')).toEqual({ package: '@acme/storage-gcs' });
    expect(resolvePluginName('not-a-plugin')).toBeUndefined();
    expect(resolvePluginName('not-a-plugin', { allowUnscoped: true })).toEqual({ package: 'not-a-plugin' });
    expect(resolvePluginName('Bad Name', { allowUnscoped: true })).toBeUndefined();
  });
});
