/**
 * Where a run came from: the git state and package versions recorded on
 * every run. (Runs whose process died are judged in lease.ts.)
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CORE_VERSION } from '@cairn/core';
import { RUNTIME_VERSION } from '../version';
import { monotonicMs } from './clock';
import { gitState } from './git-state';

/** What every run records about its origin. */
export interface RunProvenance {
  git?: { commit: string; dirty: boolean };
  versions: Record<string, string>;
}

/**
 * Git state and package versions of the project, read in parallel. With the
 * project's `stateDir`, git's answer is kept there while it holds (git-state.ts).
 */
async function readProvenance(projectDir: string, stateDir: string | undefined): Promise<RunProvenance> {
  const [git, versions] = await Promise.all([gitState(projectDir, stateDir), packageVersions(projectDir)]);
  return { versions, ...(git ? { git } : {}) };
}

/**
 * How long a prefetched provenance stays usable. The git state is read when the
 * project's pipeline code is loaded, so that `git status` (a process of its own)
 * runs on another core while the modules load instead of competing with the
 * run's first work; a run that starts later than this reads it afresh.
 */
export const PROVENANCE_PREFETCH_FRESH_MS = 2_000;

const prefetched = new Map<string, { at: number; provenance: Promise<RunProvenance> }>();

/**
 * Start reading the provenance of the project at `projectDir` now, for the next
 * run of it in this process (openProject does this when it loads the pipelines).
 * A second call before that run changes nothing. Settles when it has been read
 * (it never rejects); nobody needs to wait for it.
 */
export function prefetchProvenance(projectDir: string, stateDir?: string): Promise<unknown> {
  const dir = resolve(projectDir);
  const pending = prefetched.get(dir);
  if (pending && monotonicMs() - pending.at <= PROVENANCE_PREFETCH_FRESH_MS) return pending.provenance;
  const provenance = readProvenance(dir, stateDir);
  prefetched.set(dir, { at: monotonicMs(), provenance });
  return provenance;
}

/**
 * The provenance of a run starting now: the prefetched one when it was started at
 * most PROVENANCE_PREFETCH_FRESH_MS ago (each prefetch serves one run), else read now.
 */
export function runProvenance(projectDir: string, stateDir?: string): Promise<RunProvenance> {
  const dir = resolve(projectDir);
  const pending = prefetched.get(dir);
  prefetched.delete(dir);
  if (pending && monotonicMs() - pending.at <= PROVENANCE_PREFETCH_FRESH_MS) return pending.provenance;
  return readProvenance(dir, stateDir);
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
