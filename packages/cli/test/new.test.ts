import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cairn, listFiles, tempDir } from './helpers';

describe('cairn new', () => {
  it('--dry-run prints the tree and writes nothing', async () => {
    const cwd = await tempDir('dry');
    const result = await cairn(['new', 'churn-model', '--dry-run', '--link'], cwd);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('cairn.config.ts');
    expect(result.stdout).toContain('ingest.yaml');
    expect(result.stdout).toContain('nothing was written');
    expect(existsSync(join(cwd, 'churn-model'))).toBe(false);
    expect(listFiles(cwd)).toEqual([]);
  });

  it('refuses an invalid project name with exit 2 and writes nothing', async () => {
    const cwd = await tempDir('badname');
    for (const name of ['Bad_Name', '.hidden', 'has space', 'http']) {
      const result = await cairn(['new', 'target', '--name', name, '--no-install', '--no-git'], cwd);
      expect(result.code, name).toBe(2);
      expect(result.stderr).toMatch(/Invalid project name/);
    }
    expect(listFiles(cwd)).toEqual([]);
  });

  it('refuses an unknown template and an unknown plugin with exit 2', async () => {
    const cwd = await tempDir('badtemplate');
    const template = await cairn(['new', 'p1', '--template', 'nope', '--no-install', '--no-git'], cwd);
    expect(template.code).toBe(2);
    expect(template.stderr).toMatch(/Unknown template "nope"/);
    expect(template.stderr).toMatch(/project-tabular/);
    const plugin = await cairn(['new', 'p2', '--plugins', 'not-a-plugin', '--no-install', '--no-git'], cwd);
    expect(plugin.code).toBe(2);
    expect(plugin.stderr).toMatch(/Unknown plugin "not-a-plugin"/);
    expect(listFiles(cwd)).toEqual([]);
  });

  it('refuses a non-empty folder without --force, and leaves it untouched', async () => {
    const cwd = await tempDir('nonempty');
    await mkdir(join(cwd, 'proj'));
    await writeFile(join(cwd, 'proj', 'notes.txt'), 'mine');
    const result = await cairn(['new', 'proj', '--no-install', '--no-git', '--link'], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not empty/);
    expect(listFiles(join(cwd, 'proj'))).toEqual(['notes.txt']);
    const forced = await cairn(['new', 'proj', '--no-install', '--no-git', '--link', '--force'], cwd);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(cwd, 'proj', 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(cwd, 'proj', 'cairn.config.ts'))).toBe(true);
  });

  it('an unknown flag is a usage error (exit 2)', async () => {
    const cwd = await tempDir('flag');
    const result = await cairn(['new', 'x', '--frobnicate'], cwd);
    expect(result.code).toBe(2);
    expect(listFiles(cwd)).toEqual([]);
  });

  it('--link --no-install --no-git writes the team project', async () => {
    const cwd = await tempDir('link');
    const result = await cairn(
      ['new', 'my-team', '--link', '--no-install', '--no-git', '--plugins', 'storage-s3'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    const dir = join(cwd, 'my-team');
    const files = listFiles(dir);
    for (const expected of [
      '.github/workflows/ci.yml',
      '.gitignore',
      '.npmrc',
      'README.md',
      'cairn.config.ts',
      'conf/base/evaluate.yaml',
      'conf/base/ingest.yaml',
      'conf/base/train.yaml',
      'conf/ci/evaluate.yaml',
      'data/penguins.csv',
      'package.json',
      'pipelines/training.ts',
      'steps/evaluate.test.ts',
      'steps/ingest.ts',
    ]) {
      expect(files).toContain(expected);
    }
    expect(files.some((f) => f.endsWith('.eta'))).toBe(false);
    const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pjson.name).toBe('my-team');
    expect(pjson.dependencies['@cairn/core']).toMatch(/^file:.*packages\/core$/);
    expect(pjson.dependencies['@cairn/storage-s3']).toMatch(/^file:.*plugins\/storage-s3$/);
    expect(pjson.scripts.ci).toContain('cairn run --env ci');
    const config = readFileSync(join(dir, 'cairn.config.ts'), 'utf8');
    expect(config).toContain("import s3Storage from '@cairn/storage-s3';");
    expect(config).toMatch(/prod: \{\s+storage: s3Storage\(/);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toContain('.cairn/');
    expect(readFileSync(join(dir, '.github/workflows/ci.yml'), 'utf8')).toContain('npm run ci');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('MLOps checklist');
    expect(existsSync(join(dir, '.git'))).toBe(false);
  });

  it('writes a registry .npmrc and caret ranges without --link', async () => {
    const cwd = await tempDir('registry');
    const result = await cairn(
      ['new', 'reg-proj', '--registry', 'http://127.0.0.1:4873', '--no-install', '--no-git'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'reg-proj', '.npmrc'), 'utf8')).toContain(
      '@cairn:registry=http://127.0.0.1:4873',
    );
    const pjson = JSON.parse(readFileSync(join(cwd, 'reg-proj', 'package.json'), 'utf8'));
    expect(pjson.dependencies['@cairn/core']).toMatch(/^\^\d+\.\d+\.\d+$/);
  });
});
