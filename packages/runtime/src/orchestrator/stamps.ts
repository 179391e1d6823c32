/**
 * Verified stamps of local objects, as git's index keeps them for its work
 * tree: a cached output is re-hashed only when its file no longer looks the
 * way it did when its bytes were last known to hash to its digest.
 *
 * A stamp is the file's size, mtime and ctime in nanoseconds, inode and
 * device. Anything done to the file through the file system — a write, a
 * truncation, a chmod, `touch`, a rename over it, a delete and re-create —
 * changes its ctime (which no call can set back), so it no longer matches
 * and the object is hashed as before. What a stamp cannot see is a change
 * that bypasses the file system (a disk corrupting a block in place, a write
 * to the raw device) and a change made within the same timestamp tick as
 * the stamp's own stat; `verifyOutputs: 'full'` hashes every cached output
 * on every run as before (docs/durability.md).
 *
 * Stamps are kept in `<stateDir>/verified.json`: a cache, so a file that
 * cannot be read or written costs hashing, nothing else.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageDriver } from '@cairn/core';
import { localFileOf } from '../storage/local';

type BigStats = ReturnType<typeof statBig>;

const statBig = (path: string) => statSync(path, { bigint: true, throwIfNoEntry: false });

/** The stats of a regular file at `path`, else undefined (as `localPath` answers: gone, not a file, unreadable). */
function fileStats(path: string): BigStats {
  try {
    const info = statBig(path);
    return info?.isFile() ? info : undefined;
  } catch {
    return undefined;
  }
}

const stampOf = (info: NonNullable<BigStats>): string =>
  `${info.size}:${info.mtimeNs}:${info.ctimeNs}:${info.ino}:${info.dev}`;

/** A file changed this recently may change again within the same timestamp tick: hashed, not stamped. */
const RACY_NS = 100_000_000n;

/** Stamps older runs left are kept up to this many (beyond it, only this run's). */
const KEEP = 200_000;

export class VerifiedStamps {
  private stamps: Map<string, string> | undefined;
  private readonly seen = new Map<string, string>();
  private dirty = false;

  constructor(private readonly file: string) {}

  /** The stamps for a run's store, or undefined when the store has no local files to stamp. */
  static for(storage: StorageDriver, stateDir: string): VerifiedStamps | undefined {
    if (storage.name !== 'local' || !storage.capabilities?.localPath || !storage.localPath) return undefined;
    return new VerifiedStamps(join(stateDir, 'verified.json'));
  }

  private load(): Map<string, string> {
    if (this.stamps) return this.stamps;
    this.stamps = new Map();
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; objects?: unknown };
      if (parsed?.version === 1 && parsed.objects && typeof parsed.objects === 'object') {
        for (const [digest, stamp] of Object.entries(parsed.objects as Record<string, unknown>)) {
          if (typeof stamp === 'string') this.stamps.set(digest, stamp);
        }
      }
    } catch {}
    return this.stamps;
  }

  /**
   * Whether `digest` is intact: `'ok'` at the cost of a stat when its file
   * still has the stamp it had when last hashed — at once, not as a promise
   * (every output of every cached step of a rerun asks); otherwise the
   * store's own verify (a hash), and a new stamp when it is ok and the file
   * did not change while it was hashed.
   */
  verify(storage: StorageDriver, digest: string): 'ok' | Promise<'ok' | 'missing' | 'corrupt'> {
    const at = localFileOf(storage, digest);
    return typeof at === 'object'
      ? at.then((path) => this.verifyAt(storage, digest, path))
      : this.verifyAt(storage, digest, at);
  }

  private verifyAt(
    storage: StorageDriver,
    digest: string,
    at: string | undefined,
  ): 'ok' | Promise<'ok' | 'missing' | 'corrupt'> {
    // One stat says both whether the object is there and what its stamp is.
    const before = at === undefined ? undefined : fileStats(at);
    if (before) {
      const stamp = stampOf(before);
      if (this.load().get(digest) === stamp) {
        this.seen.set(digest, stamp);
        return 'ok';
      }
    }
    return storage.verify(digest).then((state) => {
      if (state === 'ok' && at !== undefined && before) {
        const after = statBig(at);
        if (after && stampOf(after) === stampOf(before)) this.offer(digest, after);
      }
      return state;
    });
  }

  /**
   * The stamp of an object this run's step just wrote through the store
   * (which hashed the bytes as it wrote them), taken right after the step.
   */
  produced(path: string, digest: string): void {
    // Gone, not a file or unreadable: no stamp (a rerun hashes it).
    const info = fileStats(path);
    if (info) this.keep(digest, stampOf(info));
  }

  private offer(digest: string, info: NonNullable<BigStats>): void {
    // Hashed right after a change: a later change in the same tick would keep the stamp.
    if (BigInt(Date.now()) * 1_000_000n - info.ctimeNs < RACY_NS) return;
    this.keep(digest, stampOf(info));
  }

  private keep(digest: string, stamp: string): void {
    this.seen.set(digest, stamp);
    if (this.load().get(digest) !== stamp) this.dirty = true;
  }

  /** Write the stamps back when this run added or changed any; a state folder that refuses costs nothing but hashing. */
  save(): void {
    if (!this.dirty) return;
    const stamps = this.load();
    const objects: Record<string, string> = {};
    if (stamps.size + this.seen.size <= KEEP) for (const [digest, stamp] of stamps) objects[digest] = stamp;
    for (const [digest, stamp] of this.seen) objects[digest] = stamp;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: 1, objects }));
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {}
  }
}
