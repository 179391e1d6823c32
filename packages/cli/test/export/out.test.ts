/**
 * `--out` as the exports write it: atomically, into folders made on the way,
 * keeping a replaced file's mode and a symbolic link, refusing a folder name.
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cairn } from '../helpers';
import { fixtureProject } from './project';

let dir: string;
const exportTo = (out: string) => cairn(['export', 'github-actions', 'training', '--out', out], dir);
const isWorkflow = async (file: string) => expect(parse(await readFile(file, 'utf8')).jobs).toBeDefined();

beforeAll(async () => {
  dir = await fixtureProject('export-out');
});

describe('export --out', () => {
  it('writes a file whose name is near the 255-byte limit', async () => {
    const out = join(dir, `${'w'.repeat(236)}.yml`);
    const result = await exportTo(out);
    expect(result.code, result.stderr).toBe(0);
    await isWorkflow(out);
  });

  it('makes the missing folders of the path, as the --help examples need', async () => {
    const out = join(dir, 'argo', 'nested', 'training.yaml');
    const result = await exportTo(out);
    expect(result.code, result.stderr).toBe(0);
    await isWorkflow(out);
  });

  it('refuses a folder the kernel will not make (under /proc) with exit 2, instead of retrying forever', async () => {
    const refused = await exportTo('/proc/no-such-process/cairn/training.yml');
    expect(refused.code).toBe(2);
    // (oclif wraps the message at the terminal width.)
    expect(refused.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--out \/proc\/no-such-process\/cairn\/training\.yml: cannot write there \(ENOENT\)/,
    );
  });

  it('refuses a name ending with a slash, or too long for the file system (exit 2), and writes nothing', async () => {
    const slash = await exportTo(join(dir, 'new.yaml/'));
    expect(slash.code).toBe(2);
    expect(slash.stderr).toMatch(/CAIRN_USAGE/);
    expect(existsSync(join(dir, 'new.yaml'))).toBe(false);
    const long = await exportTo(join(dir, `${'l'.repeat(300)}.yml`));
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/ENAMETOOLONG[\s\S]*CAIRN_USAGE/);
  });

  it("keeps a replaced file's mode", async () => {
    const out = join(dir, 'private.yml');
    await writeFile(out, 'old\n');
    await chmod(out, 0o600);
    const result = await exportTo(out);
    expect(result.code, result.stderr).toBe(0);
    await isWorkflow(out);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('writes through a symbolic link to the file it points to', async () => {
    const real = join(dir, 'real.yml');
    const link = join(dir, 'link.yml');
    await writeFile(real, 'old\n');
    await symlink('real.yml', link);
    const result = await exportTo(link);
    expect(result.code, result.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('real.yml');
    await isWorkflow(real);
  });

  it('argo --help submits a WorkflowTemplate with --from', async () => {
    const help = await cairn(['export', 'argo', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--template --out (\S+)[\s\S]*argo template create \1/);
    expect(help.stdout).toMatch(/argo submit --from workflowtemplate\/training/);
  });
});
