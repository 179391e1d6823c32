/**
 * The built CLI (what npm installs): tsup bundles @oclif/core into one chunk
 * that bin/run.js and the commands share. Built here into a temporary
 * package, it must print exactly what the source CLI prints, and never load
 * a second, unbundled copy of @oclif/core (whose error classes and settings
 * would then not be the ones the commands use).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
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
/** The built CLI's cache folder (XDG_CACHE_HOME): its kept root help lives in cairn/root-help.json. */
let cache: string;

/** Spawn the built package's `cairn` as a user's shell would: no source condition, no tsx. */
function builtCairn(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const base = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    XDG_CACHE_HOME: cache,
  };
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
  cache = join(dir, 'cache');
  await mkdir(join(pkg, 'bin'), { recursive: true });
  await mkdir(cwd);
  await exec(
    process.execPath,
    [join(REPO_MODULES, 'tsup', 'dist', 'cli-default.js'), '--no-dts', '--out-dir', join(pkg, 'dist')],
    { cwd: PACKAGE },
  );
  // The bin files npm installs (package.json's "files").
  for (const file of ['run.js', 'help-cache.js'])
    await cp(join(PACKAGE, 'bin', file), join(pkg, 'bin', file));
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

  it('keeps the root help it printed, and prints it again only for the same build, terminal and environment', async () => {
    const kept = join(cache, 'cairn', 'root-help.json');
    const first = await builtCairn(['--help']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('USAGE');
    expect(JSON.parse(await readFile(kept, 'utf8')).text).toBe(first.stdout);

    // Replace the kept text (same key): what the next call prints is the kept entry, not a render.
    const entry = JSON.parse(await readFile(kept, 'utf8'));
    await writeFile(kept, JSON.stringify({ ...entry, text: 'KEPT\n' }));
    for (const args of [['--help'], []]) {
      // Each argument list is its own key: only `--help` matches the entry.
      const again = await builtCairn(args);
      expect(again.code, args.join(' ')).toBe(0);
      if (args[0] === '--help') expect(again.stdout).toBe('KEPT\n');
      else expect(again.stdout, args.join(' ')).toContain('USAGE');
      await writeFile(kept, JSON.stringify({ ...entry, text: 'KEPT\n' }));
    }

    // Another width, another environment: rendered again, as the source CLI renders it.
    const narrow = await builtCairn(['--help'], { COLUMNS: '50' });
    expect(narrow.stdout).not.toBe('KEPT\n');
    expect(narrow).toEqual(await cairn(['--help'], cwd, { COLUMNS: '50' }));
    await writeFile(kept, JSON.stringify({ ...entry, text: 'KEPT\n' }));
    expect((await builtCairn(['--help'], { CAIRN_ANYTHING: 'x' })).stdout).toContain('USAGE');

    // A rebuilt bundle (a new modification time) is another build: rendered again.
    await writeFile(kept, JSON.stringify({ ...entry, text: 'KEPT\n' }));
    const bundle = join(pkg, 'dist', 'commands.js');
    const { mtime } = await stat(bundle);
    await utimes(bundle, mtime, new Date(mtime.getTime() + 5000));
    expect((await builtCairn(['--help'])).stdout).toBe(first.stdout);

    // Any other command neither reads nor writes the kept help.
    const before = await readFile(kept, 'utf8');
    expect((await builtCairn(['runs', '--bogus'])).code).toBe(2);
    expect(await readFile(kept, 'utf8')).toBe(before);
  });

  it('prints the root help when its cache folder cannot be written', async () => {
    // XDG_CACHE_HOME is a file: no folder can be made under it.
    const blocked = join(cache, 'not-a-folder');
    await mkdir(cache, { recursive: true });
    await writeFile(blocked, 'x');
    const result = await builtCairn(['--help'], { XDG_CACHE_HOME: blocked });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const fresh = await builtCairn(['--help'], { XDG_CACHE_HOME: join(cache, 'fresh') });
    expect(result.stdout).toBe(fresh.stdout);
    expect(result.stdout).toContain('USAGE');
  });
});
