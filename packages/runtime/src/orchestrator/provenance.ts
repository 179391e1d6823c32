/**
 * Where a run came from: the git state and package versions recorded on
 * every run. (Runs whose process died are judged in lease.ts.)
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

async function gitState(projectDir: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  try {
    const [head, status] = await Promise.all([
      execFileAsync('git', ['rev-parse', 'HEAD'], { cwd: projectDir }),
      execFileAsync('git', ['status', '--porcelain', '--untracked-files=normal'], { cwd: projectDir }),
    ]);
    return { commit: head.stdout.trim(), dirty: status.stdout.trim().length > 0 };
  } catch {
    return undefined;
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
