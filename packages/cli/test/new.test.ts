// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackFor } from '@cairn/core';
import { loadProjectConfig } from '@cairn/runtime';
import { describe, expect, it } from 'vitest';
import { cairn, listFiles, tempDir } from './helpers';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

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

  it('--link --no-install --no-git writes the team project, with --plugins configured in env.team', async () => {
    const cwd = await tempDir('link');
    const result = await cairn(
      ['new', 'my-team', '--link', '--no-install', '--no-git', '--plugins', 'storage-s3,metadata-postgres'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    const dir = join(cwd, 'my-team');
    const files = listFiles(dir);
    for (const expected of [
      '.env.example',
      '.github/workflows/ci.yml',
      '.gitignore',
      '.npmrc',
      'README.md',
      'cairn.config.ts',
      'data/penguins.csv',
      'package.json',
      'pipelines/training.ts',
      'src/predict.ts',
      'src/row.ts',
      'test/pipeline.test.ts',
      'tsconfig.json',
      ...['ingest', 'validate', 'prepare', 'train', 'evaluate', 'register', 'gate'].flatMap((step) => [
        `conf/base/${step}.yaml`,
        `steps/${step}.ts`,
      ]),
      'conf/ci/evaluate.yaml',
      'conf/ci/gate.yaml',
      'steps/validate.test.ts',
      'steps/train.test.ts',
    ]) {
      expect(files).toContain(expected);
    }
    expect(files.some((f) => f.endsWith('.eta'))).toBe(false);
    const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pjson.name).toBe('my-team');
    expect(pjson.dependencies['@cairn/core']).toMatch(/^file:.*packages\/core$/);
    expect(pjson.dependencies['@cairn/tabular']).toMatch(/^file:.*packages\/tabular$/);
    expect(pjson.dependencies['@cairn/storage-s3']).toMatch(/^file:.*plugins\/storage-s3$/);
    expect(pjson.dependencies['@cairn/metadata-postgres']).toMatch(/^file:.*plugins\/metadata-postgres$/);
    expect(pjson.dependencies['ml-random-forest']).toMatch(/^\^2\./);
    expect(pjson.scripts.ci).toBe(
      'tsc --noEmit && vitest run && cairn run --env ci && cairn gate latest --env ci',
    );
    expect(Object.keys(pjson.devDependencies)).toEqual(
      expect.arrayContaining(['typescript', '@types/node', 'vitest']),
    );

    const config = readFileSync(join(dir, 'cairn.config.ts'), 'utf8');
    expect(config).toContain("import s3Storage from '@cairn/storage-s3';");
    expect(config).toContain("import postgresMetadata from '@cairn/metadata-postgres';");
    expect(config).toContain('executor: workerPool(),');
    expect(config).toContain('ci: { executor: inProcess() },');
    expect(config).toContain(
      [
        '    team: {',
        '      storage: s3Storage({',
        "        bucket: '${env:ARTIFACT_BUCKET}',",
        "        prefix: 'cairn',",
        '        // An S3-compatible server (Ceph, MinIO, R2); delete this line for AWS S3.',
        "        endpoint: '${env:S3_ENDPOINT}',",
        '        // Leave credentials out to use the AWS default chain (profile, SSO, instance role).',
        '        credentials: {',
        "          accessKeyId: '${env:AWS_ACCESS_KEY_ID}',",
        "          secretAccessKey: '${env:AWS_SECRET_ACCESS_KEY}',",
        '        },',
        '      }),',
        "      metadata: postgresMetadata({ url: '${env:DATABASE_URL}' }),",
        '    },',
      ].join('\n'),
    );
    // The base stack keeps the embedded defaults: a fresh clone and CI need no server.
    expect(config).toContain("storage: localStore({ dir: '.cairn/artifacts' }),");
    const example = readFileSync(join(dir, '.env.example'), 'utf8');
    for (const name of [
      'ARTIFACT_BUCKET',
      'S3_ENDPOINT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'DATABASE_URL',
    ]) {
      expect(example).toMatch(new RegExp(`^${name}=.+$`, 'm'));
    }
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\.env$/m);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('MLOps checklist');
    expect(readme).toContain('cairn run --env team');
    expect(readFileSync(join(dir, '.github/workflows/ci.yml'), 'utf8')).toContain('npm run ci');
    expect(existsSync(join(dir, '.git'))).toBe(false);

    // The config loads as the CLI loads it (the monorepo's packages stand in for an install),
    // and the team env's stack is S3 + PostgreSQL; nothing connects until a run uses them.
    await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const { config: loaded } = await loadProjectConfig(dir);
    const team = stackFor(loaded, 'team');
    expect([team.storage?.name, team.metadata?.name, team.executor?.name]).toEqual([
      's3',
      'postgres',
      'worker-pool',
    ]);
    const local = stackFor(loaded, 'local');
    expect([local.storage?.name, local.metadata?.name]).toEqual(['local', 'sqlite']);
  });

  it('--plugins deploy-local,abtest-local go into the base stack, not env.team', async () => {
    const cwd = await tempDir('delivery');
    const result = await cairn(
      ['new', 'shop', '--link', '--no-install', '--no-git', '--plugins', 'deploy-local,abtest-local'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    const dir = join(cwd, 'shop');
    const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pjson.dependencies['@cairn/deploy-local']).toMatch(/^file:.*plugins\/deploy-local$/);
    expect(pjson.dependencies['@cairn/abtest-local']).toMatch(/^file:.*plugins\/abtest-local$/);
    const config = readFileSync(join(dir, 'cairn.config.ts'), 'utf8');
    expect(config).toContain("import localDeployer from '@cairn/deploy-local';");
    expect(config).toContain("import localAbtest from '@cairn/abtest-local';");
    const stack = config.slice(config.indexOf('stack: {'), config.indexOf('env: {'));
    expect(stack).toContain('    deployer: localDeployer({ port: 8080 }),');
    expect(stack).toContain('    abtest: localAbtest(),');
    expect(config.match(/from '@cairn\/deploy-local'/g)).toHaveLength(1);
    expect(config.match(/from '@cairn\/abtest-local'/g)).toHaveLength(1);
    expect(config).not.toContain('team: {');
    expect(listFiles(dir)).not.toContain('.env.example');
  });

  it('without --plugins there is no team env and no .env.example', async () => {
    const cwd = await tempDir('plain');
    const result = await cairn(['new', 'plain', '--link', '--no-install', '--no-git'], cwd);
    expect(result.code, result.stderr).toBe(0);
    const config = readFileSync(join(cwd, 'plain', 'cairn.config.ts'), 'utf8');
    expect(config).not.toMatch(/team:|s3Storage|postgresMetadata/);
    expect(existsSync(join(cwd, 'plain', '.env.example'))).toBe(false);
    expect(readFileSync(join(cwd, 'plain', 'README.md'), 'utf8')).toContain('npx cairn add storage-s3');
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

  it("--scope adds the team's own scope to .npmrc, on the same registry", async () => {
    const cwd = await tempDir('scope');
    const registry = 'https://npm.acme.internal/';
    const result = await cairn(
      ['new', 'acme-proj', '--registry', registry, '--scope', '@acme', '--no-install', '--no-git'],
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = readFileSync(join(cwd, 'acme-proj', '.npmrc'), 'utf8').split('\n');
    expect(lines).toContain(`@cairn:registry=${registry}`);
    expect(lines).toContain(`@acme:registry=${registry}`);

    for (const bad of [
      ['--scope', 'acme', '--registry', registry],
      ['--scope', '@acme'],
    ]) {
      const refused = await cairn(['new', 'other', ...bad, '--no-install', '--no-git'], cwd);
      expect(refused.code, bad.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/scope|registry/);
    }
    expect(existsSync(join(cwd, 'other'))).toBe(false);
  });
});
