/**
 * What a run records about where it came from: the commit of the project's
 * repository and whether the work tree differed from it, read with real git.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prefetchProvenance, runProvenance } from '../src/orchestrator/provenance';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-provenance-'));
  dirs.push(dir);
  return dir;
}
const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();

/** A repository with one commit of a.txt. */
async function committedRepo(): Promise<{ dir: string; commit: string }> {
  const dir = await folder();
  git(dir, 'init', '-q');
  await writeFile(join(dir, 'a.txt'), 'one\n');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'first');
  return { dir, commit: git(dir, 'rev-parse', 'HEAD') };
}

describe('runProvenance', () => {
  it('records the commit, clean, then dirty after an edit or a new file, from a subfolder too', async () => {
    const { dir, commit } = await committedRepo();
    expect((await runProvenance(dir)).git).toEqual({ commit, dirty: false });

    await writeFile(join(dir, 'new.txt'), 'untracked\n');
    expect((await runProvenance(dir)).git).toEqual({ commit, dirty: true });
    await rm(join(dir, 'new.txt'));
    await writeFile(join(dir, 'a.txt'), 'two\n');
    execFileSync('mkdir', ['-p', join(dir, 'steps')]);
    expect((await runProvenance(join(dir, 'steps'))).git).toEqual({ commit, dirty: true });
  });

  it("leaves the repository's index alone (no refresh written, no index.lock taken)", async () => {
    const { dir } = await committedRepo();
    // Same bytes, new timestamps: the index's stat data is stale, and a plain `git status` rewrites it.
    await utimes(join(dir, 'a.txt'), new Date(2001, 0, 1), new Date(2001, 0, 1));
    const before = await stat(join(dir, '.git', 'index'), { bigint: true });
    expect((await runProvenance(dir)).git?.dirty).toBe(false);
    const after = await stat(join(dir, '.git', 'index'), { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
  });

  it('uses a prefetched state for the next run only: read when the pipelines were loaded', async () => {
    const { dir, commit } = await committedRepo();
    await prefetchProvenance(dir);
    await writeFile(join(dir, 'later.txt'), 'after the pipelines were loaded\n');
    expect((await runProvenance(dir)).git).toEqual({ commit, dirty: false });
    expect((await runProvenance(dir)).git).toEqual({ commit, dirty: true });
  });

  it('records no git state outside a repository, or in one with no commit yet', async () => {
    const plain = await folder();
    expect((await runProvenance(plain)).git).toBeUndefined();
    const fresh = await folder();
    git(fresh, 'init', '-q');
    await writeFile(join(fresh, 'a.txt'), 'one\n');
    expect((await runProvenance(fresh)).git).toBeUndefined();
  });
});
