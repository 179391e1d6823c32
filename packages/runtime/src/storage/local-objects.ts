/**
 * The local store's object folder and its one write path, apart from the
 * driver that exposes them (local.ts):
 * - {@link objectFolders}: where an object lives, where it is written first,
 *   and the folders this store has already made;
 * - {@link unsyncedObjects}: objects a deferred put wrote without fsync, and
 *   how to make them durable later;
 * - {@link putObject}: temp file → hash while writing → fsync → rename.
 */
import {
  closeSync,
  mkdirSync,
  mkdir as mkdirWithCallback,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertDigest, type ObjectStat, type PutOptions } from '@cairn/core';
import { scratchPrefix, uniqueSuffix } from '../scratch';
import { filePathOf } from './file-source';
import {
  cleanStaleTemps,
  eachFilePiece,
  hashFile,
  IO_PIECE,
  io,
  objectWriter,
  SMALL_FILE,
  statQuick,
  storageFailed,
  syncDir,
  syncFile,
} from './local-files';
import { asChunks, assertExpectedDigest, discard, hashCounter } from './verify';

/** The folders of one local store. */
export interface ObjectFolders {
  dir: string;
  objectsDir: string;
  tmpDir: string;
  /** `<dir>/objects/<first 2 hex>/<other 62 hex>`; throws on anything but a digest. */
  objectPath(digest: string): string;
  /** The folder an object's entry is in (its rename is made durable by syncing it). */
  objectFolder(digest: string): string;
  /** mkdir -p, once per folder per store. */
  ensureDir(path: string): Promise<void>;
  /** Run `run`; if it fails with ENOENT, make `path` again and run it once more. */
  retryOnMissingDir<T>(path: string, run: () => Promise<T>): Promise<T>;
  /** Make the temp folder, and (once per store) clear what dead writers left in it. */
  ensureTmp(): Promise<void>;
  /** Whether `ensureTmp` has nothing left to do (checked without a promise: every put asks). */
  tmpReady(): boolean;
  /** Forget that this store made `path` (it was removed behind our back). */
  forgetDir(path: string): void;
  /** Settles once a new store's prefix folders are made (at once for an existing store). */
  prefixesMade(): Promise<void>;
}

export function objectFolders(dir: string): ObjectFolders {
  const objectsDir = join(dir, 'objects');
  const tmpDir = join(dir, 'tmp');
  let cleaned: Promise<void> | undefined;
  let prefixes: Promise<void> = Promise.resolve();
  /** The temp folder was made and its stale files cleaned: a put has nothing to wait for first. */
  let tmpReady = false;
  // Folders this store made; a put skips the mkdir round trip for them. A folder removed behind
  // our back shows up as ENOENT on open or rename, which forgets it and makes it again.
  const madeDirs = new Set<string>();
  const ensureDir = async (path: string) => {
    if (madeDirs.has(path)) return;
    await mkdir(path, { recursive: true });
    madeDirs.add(path);
  };
  return {
    dir,
    objectsDir,
    tmpDir,
    objectPath(digest) {
      assertDigest(digest);
      return join(objectsDir, digest.slice(0, 2), digest.slice(2));
    },
    objectFolder: (digest) => join(objectsDir, digest.slice(0, 2)),
    ensureDir,
    async retryOnMissingDir(path, run) {
      try {
        return await run();
      } catch (error) {
        if ((error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
        madeDirs.delete(path);
        await ensureDir(path);
        return run();
      }
    },
    async ensureTmp() {
      await ensureDir(tmpDir);
      if (cleaned === undefined) prefixes = makePrefixFolders(objectsDir);
      cleaned ??= cleanStaleTemps(tmpDir).then(() => {
        tmpReady = true;
      });
      await cleaned;
    },
    tmpReady: () => tmpReady && madeDirs.has(tmpDir),
    forgetDir: (path) => madeDirs.delete(path),
    prefixesMade: () => prefixes,
  };
}

/**
 * A new store's 256 prefix folders (`objects/00` … `objects/ff`), made on the
 * thread pool when it is first written to, several at a time. An mkdir can
 * take a quarter of a millisecond (a file system without a journal, right
 * after a large delete), and a new project's first run otherwise made them
 * one by one on this thread as its first outputs landed (renameIntoFolder's
 * fallback, still there for a put that comes before its folder, and for a
 * folder removed behind our back). A deferred put does not wait for them; a
 * durable put and a sync do (a run's first put, its config bundle, is
 * durable), so no mkdir is still under way once a run is over, for whoever
 * removes the folder next. An existing store (its `objects` folder already
 * there) is left as it is. Never rejects: a folder that cannot be made is
 * found by the put that needs it.
 */
function makePrefixFolders(objectsDir: string): Promise<void> {
  return new Promise((resolve) => {
    mkdirWithCallback(objectsDir, (error) => {
      if (error) return resolve();
      let left = 256;
      for (let prefix = 0; prefix < 256; prefix++) {
        mkdirWithCallback(join(objectsDir, prefix.toString(16).padStart(2, '0')), () => {
          if (--left === 0) resolve();
        });
      }
    });
  });
}

/** Objects written without fsync (deferred puts), and how to make them durable. */
export interface UnsyncedObjects {
  add(digest: string): void;
  has(digest: string): boolean;
  /** fsync the given objects (or all of them) and their folders; on failure they stay listed. */
  sync(digests?: Iterable<string>): Promise<void>;
}

export function unsyncedObjects(folders: ObjectFolders): UnsyncedObjects {
  // digest → its folder, whose entry needs a sync too
  const unsynced = new Map<string, string>();
  return {
    add(digest) {
      unsynced.set(digest, folders.objectFolder(digest));
    },
    has: (digest) => unsynced.has(digest),
    async sync(digests) {
      await folders.prefixesMade();
      const chosen = digests ? [...new Set(digests)].filter((d) => unsynced.has(d)) : [...unsynced.keys()];
      if (chosen.length === 0) return;
      const dirs = new Set(chosen.map((digest) => unsynced.get(digest)!));
      for (const digest of chosen) unsynced.delete(digest);
      try {
        await Promise.all(
          chosen.map((digest) => {
            const path = folders.objectPath(digest);
            return io('sync', path, () => syncFile(path));
          }),
        );
        await Promise.all([...dirs].map((folder) => syncDir(folder)));
      } catch (error) {
        // Not durable after all: whoever asks next tries again.
        for (const digest of chosen) unsynced.set(digest, folders.objectFolder(digest));
        throw error;
      }
    },
  };
}

/** `undefined` at once when no file has the digest's path (a new object); else whether its bytes hash to it. */
function existingMatches(
  folders: ObjectFolders,
  digest: string,
): Promise<ObjectStat | undefined> | undefined {
  const path = folders.objectPath(digest);
  const info = statQuick(path);
  if (!info?.isFile()) return undefined;
  return hashFile(path).then((hashed) => (hashed === digest ? { digest, size: info.size } : undefined));
}

/**
 * Store `source` as an object: into a temp file, hashed while written, then renamed to its digest.
 * Durable (file and folder fsynced) unless `defer`, which leaves that to {@link UnsyncedObjects}.
 */
export async function putObject(
  folders: ObjectFolders,
  unsynced: UnsyncedObjects,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  options: PutOptions,
  defer: boolean,
): Promise<ObjectStat> {
  const { expectedDigest, signal } = options;
  if (expectedDigest !== undefined) assertDigest(expectedDigest, 'expected digest');
  signal?.throwIfAborted();
  if (expectedDigest !== undefined) {
    const checking = existingMatches(folders, expectedDigest);
    const existing = checking && (await checking);
    if (existing) {
      await discard(source);
      // A durable put of bytes an earlier deferred put wrote returns only once they are durable.
      if (!defer) await unsynced.sync([expectedDigest]);
      return existing;
    }
  }
  const { tmpDir } = folders;
  if (!folders.tmpReady()) await io('prepare a write in', folders.dir, folders.ensureTmp);
  const tmp = join(tmpDir, `${scratchPrefix()}${Date.now().toString(36)}-${uniqueSuffix()}.tmp`);
  if (defer && source instanceof Uint8Array && source.byteLength <= SMALL_FILE) {
    return putSmallDeferred(folders, unsynced, source, tmp, expectedDigest);
  }
  // Created read-only (objects are immutable); the descriptor opened here can still write.
  const handle = await io('create a temp file in', tmpDir, () =>
    folders.retryOnMissingDir(tmpDir, () => open(tmp, 'wx', 0o444)),
  );
  let closed = false;
  const output = objectWriter(handle, !defer);
  try {
    const counter = hashCounter();
    const write = (piece: Uint8Array) => {
      signal?.throwIfAborted();
      return io('write', tmp, async () => {
        // Start the write (thread pool), then hash on this thread while it runs: the digest is
        // of the very bytes written, whatever the source does with them later.
        const written = output.write(piece);
        counter.update(piece);
        await written;
      });
    };
    // A whole file (what storeArtifact passes for `{ file }`) is read here, in large pieces.
    const file = filePathOf(source);
    if (file !== undefined) await eachFilePiece(file, write);
    else {
      for await (const chunk of asChunks(source)) {
        for (let at = 0; at < chunk.byteLength; at += IO_PIECE) {
          await write(chunk.byteLength <= IO_PIECE ? chunk : chunk.subarray(at, at + IO_PIECE));
        }
      }
    }
    signal?.throwIfAborted();
    const digest = counter.digest();
    assertExpectedDigest(expectedDigest, digest);
    await io('write', tmp, async () => {
      await output.settle();
      if (!defer) await handle.sync();
      await handle.close();
    });
    closed = true;
    await publish(folders, unsynced, tmp, digest, defer);
    return { digest, size: counter.size };
  } catch (error) {
    if (!closed) {
      await output.settle().catch(() => {});
      await handle.close().catch(() => {});
    }
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

/**
 * A deferred put of a small buffer (a step's json or metrics output), written
 * with synchronous calls: open, write, close and rename of a few kilobytes
 * take microseconds each in the kernel, where each thread-pool round trip
 * cost tens of microseconds of this thread's time (a cold 1,000-step run
 * makes four per output). Nothing here waits on the disk: the fsyncs come
 * later, together (UnsyncedObjects.sync).
 */
function putSmallDeferred(
  folders: ObjectFolders,
  unsynced: UnsyncedObjects,
  bytes: Uint8Array,
  tmp: string,
  expectedDigest: string | undefined,
): Promise<ObjectStat> {
  const counter = hashCounter();
  counter.update(bytes);
  const digest = counter.digest();
  assertExpectedDigest(expectedDigest, digest);
  const target = folders.objectPath(digest);
  const folder = folders.objectFolder(digest);
  try {
    writeSmallFile(folders, tmp, bytes);
  } catch (error) {
    return Promise.reject(storageFailed('write', tmp, error));
  }
  try {
    renameIntoFolder(folder, tmp, target);
  } catch (error) {
    const failed = storageFailed('store', target, error);
    return rm(tmp, { force: true })
      .catch(() => {})
      .then(() => Promise.reject(failed));
  }
  unsynced.add(digest);
  // Back to the event loop before the step goes on: with no I/O to wait for, a run of small
  // steps would otherwise chain from promise to promise, and the fsyncs' completions, the record
  // queue's timer and the GC's idle work would wait behind it (a cold 10,000-step run held
  // 50 MiB more). One promise, the one returned: every output of every step is put here.
  return new Promise((resolve) => setImmediate(() => resolve({ digest, size: bytes.byteLength })));
}

/**
 * `renameSync(tmp, target)`, making `folder` (the target's) first when the rename finds it missing:
 * the first object of its prefix, or a folder removed behind our back. Not an `ensureDir` before
 * it: that is an mkdir on the thread pool for every folder this process has not made yet, and a
 * run that re-executes a chain of steps waited for one round trip per output (about 90 of 100
 * outputs of a changed 1,000-step run land in folders an earlier run made).
 */
function renameIntoFolder(folder: string, tmp: string, target: string): void {
  try {
    renameSync(tmp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
    mkdirSync(folder, { recursive: true });
    renameSync(tmp, target);
  }
}

/** Create `tmp` read-only (objects are immutable) and write `bytes` to it; the temp folder made again if it is gone. */
function writeSmallFile(folders: ObjectFolders, tmp: string, bytes: Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o444);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    folders.forgetDir(folders.tmpDir);
    mkdirSync(folders.tmpDir, { recursive: true });
    fd = openSync(tmp, 'wx', 0o444);
  }
  try {
    for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at);
  } catch (error) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
}

/** Rename a written temp file to its object path; durable unless `defer`. */
async function publish(
  folders: ObjectFolders,
  unsynced: UnsyncedObjects,
  tmp: string,
  digest: string,
  defer: boolean,
): Promise<void> {
  const target = folders.objectPath(digest);
  const folder = folders.objectFolder(digest);
  await io('store', target, async () => {
    await folders.ensureDir(folder);
    // rename replaces an existing (possibly corrupt) object atomically; readers see old or new, never half.
    await folders.retryOnMissingDir(folder, () => rename(tmp, target));
    if (defer) unsynced.add(digest);
    else {
      await folders.prefixesMade();
      await syncDir(folder);
      // The same bytes written earlier without fsync: this put promised durability for them.
      if (unsynced.has(digest)) await unsynced.sync([digest]);
    }
  });
}
