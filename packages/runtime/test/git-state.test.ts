/**
 * The git state a run records, with git's answer kept in the state folder
 * while nothing git would look at changed. Real repositories, real git; a
 * wrapper first on PATH counts how often git is started, to tell a kept
 * answer from a fresh one. Every change below must be seen.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitState } from '../src/orchestrator/git-state';

const REAL_GIT = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
const dirs: string[] = [];
let counter: string;
const savedPath = process.env.PATH;
const savedGitDir = process.env.GIT_DIR;

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-git-state-'));
  dirs.push(dir);
  return dir;
}

beforeEach(async () => {
  const bin = await folder();
  counter = join(bin, 'count');
  await writeFile(counter, '');
  await writeFile(join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${counter}'\nexec '${REAL_GIT}' "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  process.env.PATH = `${bin}:${savedPath}`;
});
afterEach(async () => {
  process.env.PATH = savedPath;
  if (savedGitDir === undefined) delete process.env.GIT_DIR;
  else process.env.GIT_DIR = savedGitDir;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** The arguments of every git started since the last call. */
function gitCalls(): string[] {
  const lines = readFileSync(counter, 'utf8').split('\n').filter(Boolean);
  execFileSync('truncate', ['-s', '0', counter]);
  return lines;
}
const gitStarts = () => gitCalls().length;

const git = (dir: string, ...args: string[]) =>
  execFileSync(REAL_GIT, ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();

/** A repository with one commit: a.txt, conf/s.yaml, and an ignored .cairn state folder. */
async function committedRepo(): Promise<{ dir: string; state: string; commit: string }> {
  const dir = await folder();
  git(dir, 'init', '-q');
  await writeFile(join(dir, 'a.txt'), 'one\n');
  await mkdir(join(dir, 'conf'));
  await writeFile(join(dir, 'conf', 's.yaml'), 'seed: 1\n');
  await writeFile(join(dir, '.gitignore'), '.cairn/\n*.log\n');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'first');
  return { dir, state: join(dir, '.cairn'), commit: git(dir, 'rev-parse', 'HEAD') };
}

// Racy stamps (newer than the call) are never kept; these tests write and call within
// milliseconds, so they allow stamps up to the call itself and change sizes, not only bytes.
// Up to 1 ms after the call's start, in fact: the start is Date.now(), a whole millisecond, and
// the state folder the first call makes (which changes the root folder's stamp just before git
// starts) usually lands in that same millisecond. With 0, about one first call in 25 kept no
// answer, and a test counting git starts failed. Nothing here changes a file while git runs.
const NOT_RACY = { racyMs: -1 };

describe('gitState with a kept answer', () => {
  it('asks git once, then reuses the answer while nothing changed', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(1);
    expect(existsSync(join(state, 'git-status.json'))).toBe(true);
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(await gitState(join(dir, 'conf'), state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(0);
  });

  it('sees an edit, a new file in a subfolder, a removed file, and a new empty folder filled later', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    await gitState(dir, state, NOT_RACY);

    await writeFile(join(dir, 'conf', 's.yaml'), 'seed: 12\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    git(dir, 'checkout', '--', 'conf/s.yaml');
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });

    await writeFile(join(dir, 'conf', 'new.yaml'), 'seed: 2\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    await rm(join(dir, 'conf', 'new.yaml'));
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });

    await rm(join(dir, 'a.txt'));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    git(dir, 'checkout', '--', 'a.txt');
    await new Promise((r) => setTimeout(r, 5));

    // git does not list an empty folder: clean, and kept; a file put in it later is new.
    await mkdir(join(dir, 'later'));
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    await writeFile(join(dir, 'later', 'x.txt'), 'x\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
  });

  it('sees a same-size edit whose mtime was put back (the change time moves anyway)', async () => {
    const { dir, state, commit } = await committedRepo();
    const file = join(dir, 'conf', 's.yaml');
    // A whole second, so that it can be put back exactly.
    await utimes(file, 1_000_000_000, 1_000_000_000);
    // Past the file system's clock tick, so that the edit's change time differs from the snapshot's.
    await new Promise((r) => setTimeout(r, 30));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    await new Promise((r) => setTimeout(r, 30));
    await writeFile(file, 'seed: 9\n');
    await utimes(file, 1_000_000_000, 1_000_000_000);
    expect((await stat(file)).mtimeMs).toBe(1_000_000_000_000);
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
  });

  it('keeps the answer across changes to files git ignores, and sees an ignore rule taken away', async () => {
    const { dir, state, commit } = await committedRepo();
    await writeFile(join(dir, 'run.log'), 'ignored\n');
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(1);
    await writeFile(join(state, 'other.json'), '{}');
    await writeFile(join(dir, 'run.log'), 'ignored, and longer\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(0);

    // Without the *.log rule, run.log is a new file. The rule's file is tracked, so it is stamped.
    await writeFile(join(dir, '.gitignore'), '.cairn/\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    // A rule in .git/info/exclude (not in the work tree) hides it again.
    await writeFile(join(dir, '.gitignore'), '.cairn/\n*.log\n');
    await new Promise((r) => setTimeout(r, 5));
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    await writeFile(join(dir, 'notes.txt'), 'mine\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    await mkdir(join(dir, '.git', 'info'), { recursive: true });
    await writeFile(join(dir, '.git', 'info', 'exclude'), 'notes.txt\n');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
  });

  it('sees a commit, a staged change, and a branch switch', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    await gitState(dir, state, NOT_RACY);

    await writeFile(join(dir, 'a.txt'), 'one two\n');
    git(dir, 'add', 'a.txt');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    git(dir, 'commit', '-q', '-m', 'second');
    const second = git(dir, 'rev-parse', 'HEAD');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit: second, dirty: false });

    git(dir, 'checkout', '-q', '-b', 'other', commit);
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    // Same tree, a new commit on the branch: only the ref file changes.
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'empty');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({
      commit: git(dir, 'rev-parse', 'HEAD'),
      dirty: false,
    });
  });

  it('keeps nothing while stamps are recent: a same-size edit right after a call is seen', async () => {
    const { dir, state, commit } = await committedRepo();
    // The default rule: every file here was written within the last two seconds.
    expect(await gitState(dir, state)).toEqual({ commit, dirty: false });
    expect(existsSync(join(state, 'git-status.json'))).toBe(false);
    await writeFile(join(dir, 'conf', 's.yaml'), 'seed: 2\n');
    expect(await gitState(dir, state)).toEqual({ commit, dirty: true });
    expect(gitStarts()).toBe(2);
  });

  it('takes no stamps after an edit made just now: the snapshot would be racy', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    await gitState(dir, state, NOT_RACY);
    expect(gitCalls()).toEqual([expect.stringContaining('--ignored=matching')]);
    await writeFile(join(dir, 'a.txt'), 'one, edited\n');
    expect(await gitState(dir, state)).toEqual({ commit, dirty: true });
    expect(gitCalls()).toEqual([expect.not.stringContaining('--ignored')]);
    // The snapshot is kept as it was: asked again, the edit is seen again.
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: true });
    expect(gitCalls()).toEqual([expect.stringContaining('--ignored=matching')]);
  });

  it('keeps nothing for a work tree with more entries than the limit', async () => {
    const { dir, state, commit } = await committedRepo();
    for (let i = 0; i < 12; i++) await writeFile(join(dir, 'conf', `extra-${i}.yaml`), `seed: ${i}\n`);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'more');
    const head = git(dir, 'rev-parse', 'HEAD');
    await new Promise((r) => setTimeout(r, 5));
    gitCalls();
    expect(await gitState(dir, state, { ...NOT_RACY, maxEntries: 10 })).toEqual({
      commit: head,
      dirty: false,
    });
    expect(existsSync(join(state, 'git-status.json'))).toBe(false);
    // The index lists 15 files: known too large before any stamping, so git is not asked for the
    // ignored files that only a snapshot needs, and the state folder is not even made.
    expect(gitCalls()).toEqual([expect.not.stringContaining('--ignored')]);
    expect(existsSync(state)).toBe(false);
    // Fewer tracked files than the limit, but more entries once folders and untracked files are
    // counted: the stamping walk finds out, and nothing is kept either.
    expect(await gitState(dir, state, { ...NOT_RACY, maxEntries: 20 })).toEqual({
      commit: head,
      dirty: false,
    });
    expect(gitCalls()).toEqual([expect.stringContaining('--ignored=matching')]);
    expect(existsSync(join(state, 'git-status.json'))).toBe(false);
    expect(await gitState(dir, state, { ...NOT_RACY, maxEntries: 100 })).toEqual({
      commit: head,
      dirty: false,
    });
    expect(existsSync(join(state, 'git-status.json'))).toBe(true);
    expect(commit).not.toBe(head);
  });

  it('asks git every time when GIT_DIR is set, and answers as before without a state folder', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    process.env.GIT_DIR = join(dir, '.git');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(existsSync(join(state, 'git-status.json'))).toBe(false);
    delete process.env.GIT_DIR;
    expect(await gitState(dir, undefined, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(await gitState(dir, undefined, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(3);
  });

  it('does not trust a snapshot of another repository or a damaged one', async () => {
    const { dir, state, commit } = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    await gitState(dir, state, NOT_RACY);
    const other = await committedRepo();
    await new Promise((r) => setTimeout(r, 5));
    // The other repository, given this one's state folder.
    expect(await gitState(other.dir, state, NOT_RACY)).toEqual({ commit: other.commit, dirty: false });
    await writeFile(join(state, 'git-status.json'), '{"version":1,');
    expect(await gitState(dir, state, NOT_RACY)).toEqual({ commit, dirty: false });
    expect(gitStarts()).toBe(3);
  });
});
