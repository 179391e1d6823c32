/**
 * The local store's file input/output, apart from its layout and its driver
 * (local.ts, local-objects.ts): reading a file in pieces while the next one
 * is read, writing pieces in full with early writeback, fsync of files and
 * folders, and the store's error wrapping.
 */
import { closeSync, fsync, openSync, readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, ErrorCodes } from '@cairn/core';
import { reclaimScratch } from '../scratch';
import { hashCounter } from './verify';

/** Temp files older than this belong to a writer that died; the next write removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/**
 * The largest piece `put` writes and `verify` hashes at once: few thread-pool round trips per
 * GiB, and hashing one piece holds the event loop for well under a millisecond.
 */
export const IO_PIECE = 1024 * 1024;
/** A durable put starts writeback of what it wrote so far every this many bytes. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;

/** Synchronous: a stat of a local file takes microseconds, a thread-pool round trip does not. */
export function statQuick(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Files up to this size are hashed with one synchronous read (see hashFile), and written with synchronous calls by a deferred put. */
export const SMALL_FILE = 64 * 1024;

export async function hashFile(path: string): Promise<string> {
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
export async function eachFilePiece(path: string, each: (piece: Buffer) => unknown): Promise<void> {
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
export function objectWriter(handle: FileHandle, writeback: boolean) {
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

export async function cleanStaleTemps(tmpDir: string): Promise<void> {
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

/**
 * fsync a file or folder by its path. Opening and closing take microseconds
 * and are done here; only the fsync, which waits on the disk, goes to the
 * thread pool: one round trip where FileHandle's open, sync and close made
 * three (a cold 1,000-step run syncs some 1,100 files and folders).
 */
function fsyncPath(path: string, folder: boolean): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    // Some file systems cannot open or sync folders, which is fine.
    return folder ? Promise.resolve() : Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    fsync(fd, (error) => {
      try {
        closeSync(fd);
      } catch (closeError) {
        error ??= closeError as NodeJS.ErrnoException;
      }
      if (error && !folder) reject(error);
      else resolve();
    });
  });
}

export function syncFile(path: string): Promise<void> {
  return fsyncPath(path, false);
}

export function syncDir(path: string): Promise<void> {
  // Makes the rename durable.
  return fsyncPath(path, true);
}

export async function io<T>(action: string, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (CairnError.is(error)) throw error;
    throw storageFailed(action, path, error);
  }
}

export function storageFailed(action: string, path: string, error: unknown): CairnError {
  const reason = error instanceof Error ? error.message : String(error);
  return new CairnError(ErrorCodes.STORAGE_FAILED, `local store: cannot ${action} ${path}: ${reason}`, {
    cause: error,
  });
}

export function notFoundOr(error: any, digest: string, path: string): CairnError {
  if (error?.code === 'ENOENT') {
    return new CairnError(ErrorCodes.ARTIFACT_NOT_FOUND, `artifact ${digest} is not in the local store`);
  }
  return storageFailed('read', path, error);
}
