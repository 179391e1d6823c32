/**
 * The built CLI (what npm installs): tsup bundles @oclif/core into one chunk
 * that bin/run.js and the commands share. Built here into a temporary
 * package, it must print exactly what the source CLI prints, and never load
 * a second, unbundled copy of @oclif/core (whose error classes and settings
 * would then not be the ones the commands use).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cairn, tempDir } from './helpers';

const exec = promisify(execFile);
const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const REPO_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

let pkg: string;
let cwd: string;

/** Spawn the built package's `cairn` as a user's shell would: no source condition, no tsx. */
function builtCairn(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LANG: 'C.UTF-8', NO_COLOR: '1' };
  return exec(process.execPath, [join(pkg, 'bin', 'run.js'), ...args], {
    cwd,
    env: { ...base, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof error.code === 'number' ? error.code : -1,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

beforeAll(async () => {
  const dir = await tempDir('built');
  pkg = join(dir, 'cli');
  cwd = join(dir, 'elsewhere');
  await mkdir(join(pkg, 'bin'), { recursive: true });
  await mkdir(cwd);
  await exec(
    process.execPath,
    [join(REPO_MODULES, 'tsup', 'dist', 'cli-default.js'), '--no-dts', '--out-dir', join(pkg, 'dist')],
    { cwd: PACKAGE },
  );
  await cp(join(PACKAGE, 'bin', 'run.js'), join(pkg, 'bin', 'run.js'));
  await cp(join(PACKAGE, 'package.json'), join(pkg, 'package.json'));
  // The workspace's node_modules stand in for what npm installs beside the package.
  await symlink(REPO_MODULES, join(dir, 'node_modules'), 'dir');
});

describe('the built CLI', () => {
  it('prints what the source CLI prints: help, version, and usage errors with their codes', async () => {
    for (const args of [['--help'], ['--version'], ['run', '--help'], ['runs', '--bogus'], ['nope']]) {
      const [built, source] = await Promise.all([builtCairn(args), cairn(args, cwd)]);
      expect(built, args.join(' ')).toEqual(source);
    }
  });

  it('loads no unbundled @oclif/core, for help or for a command', async () => {
    for (const args of [['--help'], ['runs', '--bogus']]) {
      // NODE_DEBUG=module logs every CommonJS file Node loads; the bundle is ES modules.
      const result = await builtCairn(args, { NODE_DEBUG: 'module' });
      expect(result.stderr, args.join(' ')).toContain('MODULE');
      expect(result.stderr, args.join(' ')).not.toMatch(/node_modules\/@oclif\/core\//);
    }
  });
});
