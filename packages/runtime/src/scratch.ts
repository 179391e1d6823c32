/**
 * Scratch entries (step workdirs under `.cairn/tmp`, the local store's
 * partial writes under `<artifacts>/tmp`) are named after the process that
 * made them, so that the next run can tell what a killed run left behind
 * from what a live run is still writing.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The prefix of a scratch entry this process owns. */
export const scratchPrefix = (pid: number = process.pid) => `p${pid}-`;

const OWNER = /^p(\d+)-/;

/** True while a process with this id exists (EPERM: it exists, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The owning pid of a scratch entry, when its name says so. */
export function scratchOwner(name: string): number | undefined {
  const match = OWNER.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Remove every entry of `dir` whose owner process no longer exists; returns the names removed. */
export async function reclaimScratch(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const owner = scratchOwner(name);
    if (owner === undefined || owner === process.pid || processAlive(owner)) continue;
    await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
    removed.push(name);
  }
  return removed;
}
