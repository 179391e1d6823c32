/**
 * Scratch entries (step workdirs under `.cairn/tmp`, the local store's
 * partial writes under `<artifacts>/tmp`) are named after the process that
 * made them, so that the next run can tell what a killed run left behind
 * from what a live run is still writing.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The prefix of a scratch entry this process owns. */
export const scratchPrefix = (pid: number = process.pid) => `p${pid}-`;

/** This process's random token, drawn once (see {@link uniqueSuffix}). */
let token: string | undefined;
let count = 0;

/**
 * A part of a scratch or temp name no other name of this process has, and
 * no other process's (its pid is in the prefix, and a reused pid draws
 * another token). Random bytes per name cost about 12 µs here, more than
 * the rest of a small step's put.
 */
export function uniqueSuffix(): string {
  token ??= randomBytes(6).toString('hex');
  return `${token}${(count++).toString(36)}`;
}

const OWNER = /^p(\d+)-/;

/** In a command step's workdir: the process group its command runs in. */
export const PROCESS_GROUP_FILE = 'process-group';

/** True while a process with this id exists (EPERM: it exists, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet (a zombie) still answers signal 0 on Linux.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** The owning pid of a scratch entry, when its name says so. */
function scratchOwner(name: string): number | undefined {
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
    await endOrphanedGroup(join(dir, name));
    await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
    removed.push(name);
  }
  return removed;
}

/**
 * A command step of a run that was killed (SIGKILL) keeps running in its own
 * process group; a resume would start a second copy next to it. End it first.
 */
async function endOrphanedGroup(workdir: string): Promise<void> {
  const text = await readFile(join(workdir, PROCESS_GROUP_FILE), 'utf8').catch(() => undefined);
  const group = Number(text);
  if (!Number.isInteger(group) || group <= 1) return;
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
