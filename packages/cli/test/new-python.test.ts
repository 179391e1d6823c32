import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cairn, listFiles, tempDir } from './helpers';

// The Python template is scaffolded, run and served end to end in tests/e2e (python-template.test.ts).
describe('cairn new --template python', () => {
  it('takes the short name and renders project-python', async () => {
    const cwd = await tempDir('python-dry');
    const result = await cairn(['new', 'py-model', '--template', 'python', '--dry-run', '--link'], cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('from template project-python');
    expect(result.stdout).toContain('cairn_step.py');
    expect(result.stdout).toContain('requirements.txt');
    expect(listFiles(cwd)).toEqual([]);
  });

  it('every step declares a script the project has, and lists the helper module in its fingerprint', async () => {
    const cwd = await tempDir('python-files');
    const result = await cairn(
      ['new', 'py-model', '--template', 'python', '--no-install', '--no-git', '--link'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    const dir = join(cwd, 'py-model');
    const scripts = readdirSync(join(dir, 'steps'))
      .map((name) => readFileSync(join(dir, 'steps', name), 'utf8'))
      .flatMap((source) => [...source.matchAll(/script: '([^']+)'/g)].map((m) => m[1]!));
    expect(scripts.sort()).toEqual([
      'python/evaluate.py',
      'python/ingest.py',
      'python/train.py',
      'python/validate.py',
    ]);
    for (const script of scripts) expect(existsSync(join(dir, script)), script).toBe(true);
    expect(readFileSync(join(dir, 'src', 'python-step.ts'), 'utf8')).toContain("'python/cairn_step.py'");
    expect(readFileSync(join(dir, 'cairn.config.ts'), 'utf8')).toMatch(/python: pythonLoader\(\)/);
  });

  it('refuses --data, which builds project-tabular projects, and writes nothing', async () => {
    const cwd = await tempDir('python-data');
    const result = await cairn(
      [
        'new',
        'py-model',
        '--template',
        'python',
        '--data',
        'x.csv',
        '--target',
        'y',
        '--no-install',
        '--no-git',
      ],
      cwd,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--data works with the project-tabular template, not project-python/);
    expect(listFiles(cwd)).toEqual([]);
  });
});
