/**
 * One writer per endpoint across processes: `<stateDir>/deployments/<endpoint>.lock`,
 * created with O_EXCL and holding who took it. Every change takes it, re-reads
 * the endpoint's state file, writes on top of the latest revision and lets go,
 * so deployers in several processes on one state folder never lose a revision.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { CairnError, ErrorCodes } from '@cairn/core';
import { deploymentsDir, lockFile } from './state';

/** What a lock file holds. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Unique per acquisition: tells our lock from a later one under the same name. */
  token: string;
  /** ISO-8601 time it was taken. */
  time: string;
}

export interface LockTimings {
  /** Give up waiting after this long. @default 10000 */
  waitMs?: number;
  /** A lock untouched for this long is stale even when its pid looks alive (pid reuse, another host). @default 60000 */
  staleMs?: number;
}

const HEARTBEAT_MS = 10_000;

const parseOwner = (text: string): LockOwner | undefined => {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return typeof owner?.pid === 'number' && typeof owner.token === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
};

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Why a lock is stale, or `undefined` while its owner may still hold it. A
 * half-written lock (no owner yet) counts as alive until it is old: its
 * writer is between create and write.
 */
function staleness(owner: LockOwner | undefined, ageMs: number, staleMs: number): string | undefined {
  if (ageMs > staleMs) return `untouched for ${Math.round(ageMs / 1000)} s`;
  if (owner && owner.host === hostname() && !processAlive(owner.pid)) return `process ${owner.pid} is gone`;
  return undefined;
}

/**
 * Run `task` holding the endpoint's lock. Waits with backoff while another
 * deployer holds it; breaks a stale lock (dead pid on this host, or untouched
 * for `staleMs`). The lock's mtime is refreshed while the task runs, so a long
 * model load is not mistaken for a crash.
 * @throws CAIRN_DEPLOY_FAILED naming the lock file and its holder when it stays taken for `waitMs`
 */
export async function withEndpointLock<T>(
  stateDir: string,
  endpoint: string,
  task: () => Promise<T>,
  timings: LockTimings = {},
): Promise<T> {
  const { waitMs = 10_000, staleMs = 60_000 } = timings;
  const path = lockFile(stateDir, endpoint);
  await mkdir(deploymentsDir(stateDir), { recursive: true });
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(8).toString('hex'),
    time: new Date().toISOString(),
  };
  const deadline = Date.now() + waitMs;
  let delay = 5;
  let holder: LockOwner | undefined;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(owner));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot create the lock file ${path}`, {
          cause: error,
        });
      }
    }
    const seen = await inspect(path);
    if (seen) {
      holder = seen.owner;
      const reason = staleness(seen.owner, Date.now() - seen.mtimeMs, staleMs);
      if (reason) {
        await breakLock(path, seen.text);
        continue;
      }
    }
    if (Date.now() >= deadline) {
      const who = holder ? `process ${holder.pid} on ${holder.host} since ${holder.time}` : 'another process';
      throw new CairnError(
        ErrorCodes.DEPLOY_FAILED,
        `endpoint ${endpoint} is being changed by ${who}: its lock ${path} stayed taken for ${waitMs} ms`,
        { hint: `if no deployer is running, delete ${path}` },
      );
    }
    // Jitter keeps two waiters from retrying in lockstep.
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 200);
  }

  const heartbeat = setInterval(() => {
    const now = new Date();
    void utimes(path, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await task();
  } finally {
    clearInterval(heartbeat);
    // Only our own lock: if it was broken and retaken meanwhile, the new holder keeps it.
    const seen = await inspect(path);
    if (seen?.owner?.token === owner.token) await rm(path, { force: true });
  }
}

async function inspect(
  path: string,
): Promise<{ text: string; owner?: LockOwner; mtimeMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, owner: parseOwner(text), mtimeMs: info.mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * Take a stale lock away without taking a fresh one by mistake: two
 * breakers may judge the same stale lock, and the slower one must not
 * delete the lock the faster one has since created. Renaming is atomic, so
 * the breaker checks what it moved and puts back a lock that is not the one
 * it judged.
 */
async function breakLock(path: string, judged: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch {
    return; // Someone else broke it first.
  }
  try {
    const moved = await readFile(aside, 'utf8').catch(() => judged);
    if (moved !== judged) await link(aside, path).catch(() => undefined);
  } finally {
    await rm(aside, { force: true });
  }
}
