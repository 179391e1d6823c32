/**
 * Where a run came from: the git state and package versions recorded on
 * every run. (Runs whose process died are judged in lease.ts.)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CORE_VERSION } from '@cairn/core';
import { RUNTIME_VERSION } from '../version';

const execFileAsync = promisify(execFile);

/** What every run records about its origin. */
export interface RunProvenance {
  git?: { commit: string; dirty: boolean };
  versions: Record<string, string>;
}

/** Git state and package versions of the project, read in parallel. */
export async function runProvenance(projectDir: string): Promise<RunProvenance> {
  const [git, versions] = await Promise.all([gitState(projectDir), packageVersions(projectDir)]);
  return { versions, ...(git ? { git } : {}) };
}

/**
 * The commit and whether the work tree differs from it, from one `git status`
 * (`--porcelain=v2 --branch` prints the commit as `# branch.oid`): a spawn
 * costs a run about 10 ms, so there is one, and none outside a repository.
 * `--no-optional-locks`, as editors' background status does: the same answer
 * without rewriting `.git/index` (a write, and a lock that could make the
 * user's own `git commit` during a run fail with "index.lock exists").
 */
async function gitState(projectDir: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  if (!insideGitRepository(projectDir)) return undefined;
  try {
    const { stdout } = await execFileAsync(
      'git',
      ['--no-optional-locks', 'status', '--porcelain=v2', '--branch', '--untracked-files=normal'],
      { cwd: projectDir, maxBuffer: 64 << 20 },
    );
    const lines = stdout.split('\n').filter((line) => line !== '');
    const commit = lines.find((line) => line.startsWith('# branch.oid '))?.slice('# branch.oid '.length);
    // A repository with no commit yet says `(initial)`: there is nothing to record.
    if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
    return { commit, dirty: lines.some((line) => !line.startsWith('#')) };
  } catch {
    return undefined;
  }
}

/** A `.git` (folder, or file of a worktree) in the folder or one above it. */
function insideGitRepository(dir: string): boolean {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, '.git'))) return true;
    if (dirname(current) === current) return false;
  }
}

/** Node and Cairn package versions, read from the project's installed @cairn packages. */
async function packageVersions(projectDir: string): Promise<Record<string, string>> {
  const versions: Record<string, string> = {
    node: process.versions.node,
    '@cairn/core': CORE_VERSION,
    '@cairn/runtime': RUNTIME_VERSION,
  };
  try {
    const manifest = JSON.parse(await readFile(join(projectDir, 'package.json'), 'utf8'));
    const names = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      (name) => name.startsWith('@cairn/') && !(name in versions),
    );
    await Promise.all(
      names.map(async (name) => {
        try {
          const installed = JSON.parse(
            await readFile(join(projectDir, 'node_modules', name, 'package.json'), 'utf8'),
          );
          versions[name] = installed.version;
        } catch {}
      }),
    );
  } catch {}
  return versions;
}
