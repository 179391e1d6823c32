import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dir as dirType, file, pipeline, step } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore, runPipeline } from '@cairn/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

const REPO_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

describe('cairn artifacts get', () => {
  let project: string;
  let tarball: string;
  let folder: string;

  beforeAll(async () => {
    project = await tempDir('artifacts-get');
    // A minimal project: the monorepo's packages, reached through a linked node_modules.
    await symlink(REPO_NODE_MODULES, join(project, 'node_modules'));
    await writeFile(
      join(project, 'package.json'),
      '{ "name": "artifacts-get", "private": true, "type": "module" }\n',
    );
    await writeFile(
      join(project, 'cairn.config.ts'),
      [
        "import { defineConfig } from '@cairn/core';",
        "import { sqliteMetadata } from '@cairn/metadata-sqlite';",
        "import { inProcess, localStore } from '@cairn/runtime';",
        'export default defineConfig({',
        "  stack: { storage: localStore({ dir: '.cairn/artifacts' }), metadata: sqliteMetadata({ file: '.cairn/metadata.db' }), executor: inProcess() },",
        '});',
        '',
      ].join('\n'),
    );
    const work = join(project, 'work');
    // A file() artifact that happens to be a tarball, holding a symlink the tree unpacker would refuse.
    const pack = step({
      name: 'pack',
      outputs: { archive: file(), site: dirType() },
      run: async () => {
        const inside = join(work, 'inside');
        await mkdir(inside, { recursive: true });
        await writeFile(join(inside, 'a.txt'), 'a\n');
        await symlink('/etc/passwd', join(inside, 'link'));
        const archive = join(work, 'bundle.tar');
        execFileSync('tar', ['-cf', archive, '-C', inside, '.']);
        const site = join(work, 'site');
        await mkdir(site, { recursive: true });
        await writeFile(join(site, 'index.html'), '<p>hi</p>\n');
        return { archive, site };
      },
    });
    const metadata = sqliteMetadata({ file: join(project, '.cairn', 'metadata.db') });
    const result = await runPipeline(
      pipeline('packing', () => {
        pack();
      }),
      { storage: localStore({ dir: join(project, '.cairn', 'artifacts') }), metadata, projectDir: project },
    );
    expect(result.status).toBe('succeeded');
    tarball = result.steps.pack!.outputs.archive!.digest;
    folder = result.steps.pack!.outputs.site!.digest;
    await metadata.close?.();
  });

  it('writes a file() artifact that is a tarball as a file, byte for byte, leaving nothing else', async () => {
    const result = await cairn(['artifacts', 'get', tarball, '--out', 'out/bundle.tar'], project);
    expect(result.code, result.stderr).toBe(0);
    const out = join(project, 'out', 'bundle.tar');
    expect(statSync(out).isFile()).toBe(true);
    expect(readFileSync(out).equals(readFileSync(join(project, 'work', 'bundle.tar')))).toBe(true);
    expect(readdirSync(join(project, 'out'))).toEqual(['bundle.tar']);
  });

  it('unpacks a dir() artifact into a folder', async () => {
    const result = await cairn(['artifacts', 'get', folder.slice(0, 12), '--out', 'out/site'], project);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(project, 'out', 'site', 'index.html'), 'utf8')).toBe('<p>hi</p>\n');
    expect(readdirSync(join(project, 'out')).sort()).toEqual(['bundle.tar', 'site']);
  });

  it('refuses a corrupt folder artifact and leaves nothing beside --out', async () => {
    // The local store keeps an object at objects/<first two hex>/<rest>.
    const object = join(project, '.cairn', 'artifacts', 'objects', folder.slice(0, 2), folder.slice(2));
    chmodSync(object, 0o644);
    await writeFile(object, 'not the bytes that were stored');
    const result = await cairn(['artifacts', 'get', folder, '--out', 'broken/site'], project);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/CAIRN_/);
    expect(readdirSync(join(project, 'broken'))).toEqual([]);
  });
});
