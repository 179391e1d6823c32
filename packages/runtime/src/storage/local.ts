/**
 * The embedded storage driver: content-addressed objects in a local folder.
 *
 * Layout: `<dir>/objects/<first 2 hex>/<other 62 hex>`, written read-only.
 * A write goes to `<dir>/tmp/<random>` first and becomes visible with one
 * rename after fsync, so an object is either absent or complete whatever
 * happens to the writing process.
 *
 * Throughput (issue #12): bytes move in pieces of up to 1 MiB; each piece is
 * hashed on this thread while the thread pool writes it (and reads the next
 * one, for a file source), and the digest is of exactly the bytes written.
 * A durable put also starts the disk on what it has written every 32 MiB
 * (an fdatasync on the thread pool, one at a time), so the closing fsync —
 * still made, as before — has little left to wait for.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import {
  assertDigest,
  CairnError,
  ErrorCodes,
  isDigest,
  type ObjectStat,
  type PutOptions,
  type StorageDriver,
} from '@cairn/core';
import { reclaimScratch, scratchPrefix } from '../scratch';
import { filePathOf } from './file-source';
import { asChunks, assertExpectedDigest, discard, hashCounter, verifiedStream } from './verify';

/** Options of {@link localStore}. */
export interface LocalStoreOptions {
  /**
   * The folder that holds the objects; relative paths resolve against the
   * current directory when the factory is called.
   * @example '.cairn/artifacts'
   */
  dir: string;
}

/**
 * A put option only the orchestrator sets (see {@link deferredSyncOf}): write and rename now,
 * fsync later, before anything durable refers to the object.
 */
const DEFER_SYNC = Symbol('cairn.localStore.deferSync');

/** How to make the objects a store wrote without fsync durable. */
interface PendingSync {
  sync(digests?: Iterable<string>): Promise<void>;
}
const pendingSyncs = new WeakMap<StorageDriver, PendingSync>();

/**
 * For the orchestrator: a view of a local store whose puts skip their two
 * fsyncs (the file, then its folder), and `sync`, which makes given objects
 * (or all of them) durable — many fsyncs at once, on the thread pool, off
 * the steps' path. The orchestrator syncs a step's outputs before it
 * commits the record that names them, so a power cut can still only lose
 * objects nothing durable refers to (see docs/durability.md).
 * `undefined` for any other store: their puts stay as they are.
 */
export function deferredSyncOf(
  storage: StorageDriver,
): { storage: StorageDriver; sync(digests?: Iterable<string>): Promise<void> } | undefined {
  const pending = pendingSyncs.get(storage);
  if (!pending) return undefined;
  const view: StorageDriver = {
    ...storage,
    put: (source, options) => storage.put(source, { ...options, [DEFER_SYNC]: true } as PutOptions),
  };
  return { storage: view, sync: (digests) => pending.sync(digests) };
}

/** Temp files older than this belong to a writer that died; the next write removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Chunk size of the streams `get` returns. */
const READ_CHUNK = 256 * 1024;
/**
 * The largest piece `put` writes and `verify` hashes at once: few thread-pool round trips per
 * GiB, and hashing one piece holds the event loop for well under a millisecond.
 */
const IO_PIECE = 1024 * 1024;
/** A durable put starts writeback of what it wrote so far every this many bytes. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;

/**
 * Store artifacts in a local folder. Objects are read-only files that steps
 * on this machine can read in place (`localPath`).
 *
 * @example
 * ```ts
 * defineConfig({ stack: { storage: localStore('.cairn/artifacts') } });
 * ```
 */
export function localStore(options: LocalStoreOptions | string): StorageDriver {
  const dir = resolve(validateOptions(options));
  const objectsDir = join(dir, 'objects');
  const tmpDir = join(dir, 'tmp');
  const objectPath = (digest: string) => {
    assertDigest(digest);
    return join(objectsDir, digest.slice(0, 2), digest.slice(2));
  };
  let cleaned: Promise<void> | undefined;
  // Folders this store made; a put skips the mkdir round trip for them. A folder removed behind
  // our back shows up as ENOENT on open or rename, which forgets it and makes it again.
  const madeDirs = new Set<string>();
  const ensureDir = async (path: string) => {
    if (madeDirs.has(path)) return;
    await mkdir(path, { recursive: true });
    madeDirs.add(path);
  };
  const retryOnMissingDir = async <T>(path: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if ((error as NodeJS.ErrnoException)?.code !== 'ENOENT') throw error;
      madeDirs.delete(path);
      await ensureDir(path);
      return run();
    }
  };

  const ensureTmp = async () => {
    await ensureDir(tmpDir);
    cleaned ??= cleanStaleTemps(tmpDir);
    await cleaned;
  };

  /** Objects written without fsync (deferred puts): digest → its folder, whose entry needs a sync too. */
  const unsynced = new Map<string, string>();
  const syncObjects = async (digests?: Iterable<string>) => {
    const chosen = digests ? [...new Set(digests)].filter((d) => unsynced.has(d)) : [...unsynced.keys()];
    if (chosen.length === 0) return;
    const folders = new Set(chosen.map((digest) => unsynced.get(digest)!));
    for (const digest of chosen) unsynced.delete(digest);
    try {
      await Promise.all(
        chosen.map((digest) => io('sync', objectPath(digest), () => syncFile(objectPath(digest)))),
      );
      await Promise.all([...folders].map((folder) => syncDir(folder)));
    } catch (error) {
      // Not durable after all: whoever asks next tries again.
      for (const digest of chosen) unsynced.set(digest, objectFolder(digest));
      throw error;
    }
  };
  const objectFolder = (digest: string) => join(objectsDir, digest.slice(0, 2));

  const existingMatches = async (digest: string): Promise<ObjectStat | undefined> => {
    const path = objectPath(digest);
    const info = statQuick(path);
    if (!info?.isFile()) return undefined;
    return (await hashFile(path)) === digest ? { digest, size: info.size } : undefined;
  };

  const driver: StorageDriver = {
    kind: 'storage',
    name: 'local',
    capabilities: { localPath: true, persistent: true, shared: false },
    ref: { module: '@cairn/runtime', export: 'localStore', options: { dir } },

    async put(source, putOptions: PutOptions = {}) {
      const { expectedDigest, signal } = putOptions;
      const defer = (putOptions as { [DEFER_SYNC]?: boolean })[DEFER_SYNC] === true;
      if (expectedDigest !== undefined) assertDigest(expectedDigest, 'expected digest');
      signal?.throwIfAborted();
      // A whole file (what storeArtifact passes for `{ file }`) is read here, in large pieces.
      const file = filePathOf(source);
      if (expectedDigest !== undefined) {
        const existing = await existingMatches(expectedDigest);
        if (existing) {
          await discard(source);
          // A durable put of bytes an earlier deferred put wrote returns only once they are durable.
          if (!defer) await syncObjects([expectedDigest]);
          return existing;
        }
      }
      await io('prepare a write in', dir, ensureTmp);
      const tmp = join(
        tmpDir,
        `${scratchPrefix()}${Date.now().toString(36)}-${randomBytes(8).toString('hex')}.tmp`,
      );
      // Created read-only (objects are immutable); the descriptor opened here can still write.
      const handle = await io('create a temp file in', tmpDir, () =>
        retryOnMissingDir(tmpDir, () => open(tmp, 'wx', 0o444)),
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
        const target = objectPath(digest);
        const folder = objectFolder(digest);
        await io('store', target, async () => {
          await ensureDir(folder);
          // rename replaces an existing (possibly corrupt) object atomically; readers see old or new, never half.
          await retryOnMissingDir(folder, () => rename(tmp, target));
          if (defer) unsynced.set(digest, folder);
          else {
            await syncDir(folder);
            // The same bytes written earlier without fsync: this put promised durability for them.
            if (unsynced.has(digest)) await syncObjects([digest]);
          }
        });
        return { digest, size: counter.size };
      } catch (error) {
        if (!closed) {
          await output.settle().catch(() => {});
          await handle.close().catch(() => {});
        }
        await rm(tmp, { force: true }).catch(() => {});
        throw error;
      }
    },

    async get(digest, getOptions = {}) {
      const path = objectPath(digest);
      getOptions.signal?.throwIfAborted();
      const handle = await open(path, 'r').catch((error) => {
        throw notFoundOr(error, digest, path);
      });
      let stream = handle.createReadStream({ highWaterMark: READ_CHUNK });
      if (getOptions.signal) stream = addAbortSignal(getOptions.signal, stream);
      return verifiedStream(stream, digest, getOptions.signal ? { signal: getOptions.signal } : {});
    },

    async stat(digest) {
      // One synchronous stat: cheaper than a thread-pool round trip, and called once per output.
      const path = objectPath(digest);
      let info: ReturnType<typeof statSync>;
      try {
        info = statSync(path, { throwIfNoEntry: false });
      } catch (error) {
        throw storageFailed('read', path, error);
      }
      return info?.isFile() ? { digest, size: info.size } : undefined;
    },

    async verify(digest) {
      const path = objectPath(digest);
      try {
        return (await hashFile(path)) === digest ? 'ok' : 'corrupt';
      } catch (error: any) {
        if (error?.code === 'ENOENT') return 'missing';
        throw storageFailed('read', path, error);
      }
    },

    async *list() {
      const prefixes = await readdir(objectsDir).catch((error) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw storageFailed('list', objectsDir, error);
      });
      for (const prefix of prefixes.sort()) {
        if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
        const names = await readdir(join(objectsDir, prefix)).catch(() => [] as string[]);
        for (const name of names.sort()) {
          const digest = prefix + name;
          if (!isDigest(digest)) continue;
          const info = await stat(join(objectsDir, prefix, name)).catch(() => undefined);
          if (info?.isFile()) yield { digest, size: info.size };
        }
      }
    },

    async delete(digest) {
      const path = objectPath(digest);
      await unlink(path).catch((error) => {
        if (error.code !== 'ENOENT') throw storageFailed('delete', path, error);
      });
    },

    async localPath(digest) {
      const path = objectPath(digest);
      const info = statQuick(path);
      return info?.isFile() ? path : undefined;
    },
  };
  pendingSyncs.set(driver, { sync: syncObjects });
  return driver;
}

function validateOptions(options: LocalStoreOptions | string): string {
  const invalid = (message: string) =>
    new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `localStore: ${message}`, {
      context: { plugin: 'local' },
    });
  if (typeof options === 'string') {
    if (options.trim() === '') throw invalid('option "dir" must be a non-empty path, got ""');
    return options;
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(`expected a folder path or { dir }, got ${options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'dir') throw invalid(`unknown option "${key}" (known: dir)`);
  }
  if (typeof options.dir !== 'string' || options.dir.trim() === '') {
    throw invalid(`option "dir" must be a non-empty path, got ${JSON.stringify(options.dir)}`);
  }
  return options.dir;
}

/** Synchronous: a stat of a local file takes microseconds, a thread-pool round trip does not. */
function statQuick(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Files up to this size are hashed with one synchronous read (see hashFile). */
const SMALL_FILE = 64 * 1024;

async function hashFile(path: string): Promise<string> {
  // Most artifacts (configs, json, metrics) are tiny, and a cached rerun verifies one per step:
  // a synchronous stat + read costs tens of microseconds, where a stream costs several thread-pool
  // round trips each. Large files are read in pieces, so the event loop never blocks for long.
  const info = statSync(path);
  const counter = hashCounter();
  if (info.size <= SMALL_FILE) {
    counter.update(readFileSync(path));
    return counter.digest();
  }
  await eachFilePiece(path, (piece) => counter.update(piece));
  return counter.digest();
}

/**
 * Read a file from its start to its end in pieces, into two buffers that take turns: the next
 * piece is read on the thread pool while `each` handles the current one, and nothing is in flight
 * once this returns or throws. `each` must be done with its piece when it returns (or its promise
 * settles). The buffers start at `first` bytes and grow to {@link IO_PIECE} once a read fills one.
 */
async function eachPiece(
  read: (buffer: Buffer, length: number, position: number) => Promise<number>,
  first: number,
  each: (piece: Buffer) => unknown,
): Promise<void> {
  let size = Math.max(1, Math.min(IO_PIECE, first));
  const buffers: Buffer[] = [];
  let position = 0;
  let turn = 0;
  const readNext = (): Promise<number> => {
    if ((buffers[turn]?.length ?? 0) < size) buffers[turn] = Buffer.allocUnsafeSlow(size);
    return read(buffers[turn] as Buffer, size, position);
  };
  let n = await readNext();
  while (n > 0) {
    const piece = (buffers[turn] as Buffer).subarray(0, n);
    if (n === size) size = IO_PIECE;
    position += n;
    turn ^= 1;
    const reading = readNext();
    const [handled, next] = await Promise.allSettled([(async () => each(piece))(), reading]);
    if (handled.status === 'rejected') throw handled.reason;
    if (next.status === 'rejected') throw next.reason;
    n = next.value;
  }
}

/** Feed `each` the bytes of the file at `path`, from its start to its end as it is now. */
async function eachFilePiece(path: string, each: (piece: Buffer) => unknown): Promise<void> {
  const handle = await open(path, 'r');
  try {
    // Sized to the file, so a small one takes two reads (the second finds the end).
    const { size } = await handle.stat();
    await eachPiece(
      (buffer, length, position) => handle.read(buffer, 0, length, position).then((r) => r.bytesRead),
      size + 1,
      each,
    );
  } finally {
    await handle.close();
  }
}

/**
 * Writes pieces one after another into a new file, each in full (a short write goes on where it
 * stopped). With `writeback`, it starts the disk on what it has written every
 * {@link WRITEBACK_BYTES} — an fdatasync on the thread pool, at most one at a time — while later
 * pieces are hashed and written. An early sync that fails fails the put: the closing fsync would
 * not report the same error again. `settle` waits for one still running.
 */
function objectWriter(handle: FileHandle, writeback: boolean) {
  let position = 0;
  let sinceSync = 0;
  let syncing: Promise<void> | undefined;
  let failed: { error: unknown } | undefined;
  return {
    async write(piece: Uint8Array): Promise<void> {
      if (failed) throw failed.error;
      let done = 0;
      while (done < piece.byteLength) {
        const { bytesWritten } = await handle.write(piece, done, piece.byteLength - done, position + done);
        if (bytesWritten <= 0) throw new Error(`the file system took no bytes at offset ${position + done}`);
        done += bytesWritten;
      }
      position += done;
      sinceSync += done;
      if (writeback && sinceSync >= WRITEBACK_BYTES && syncing === undefined) {
        sinceSync = 0;
        syncing = handle.datasync().then(
          () => {
            syncing = undefined;
          },
          (error) => {
            syncing = undefined;
            failed ??= { error };
          },
        );
      }
    },
    async settle(): Promise<void> {
      await syncing;
      if (failed) throw failed.error;
    },
  };
}

async function cleanStaleTemps(tmpDir: string): Promise<void> {
  // What a dead process was writing goes at once; anything else only once it is old.
  await reclaimScratch(tmpDir);
  const names = await readdir(tmpDir).catch(() => [] as string[]);
  const cutoff = Date.now() - STALE_TEMP_MS;
  for (const name of names) {
    const path = join(tmpDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && info.mtimeMs < cutoff) await rm(path, { force: true, recursive: true }).catch(() => {});
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(path: string): Promise<void> {
  // Makes the rename durable; some file systems do not support fsync on folders, which is fine.
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => {});
  await handle.close();
}

async function io<T>(action: string, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (CairnError.is(error)) throw error;
    throw storageFailed(action, path, error);
  }
}

function storageFailed(action: string, path: string, error: unknown): CairnError {
  const reason = error instanceof Error ? error.message : String(error);
  return new CairnError(ErrorCodes.STORAGE_FAILED, `local store: cannot ${action} ${path}: ${reason}`, {
    cause: error,
  });
}

function notFoundOr(error: any, digest: string, path: string): CairnError {
  if (error?.code === 'ENOENT') {
    return new CairnError(ErrorCodes.ARTIFACT_NOT_FOUND, `artifact ${digest} is not in the local store`);
  }
  return storageFailed('read', path, error);
}
