/**
 * Moving serialized artifacts in and out of storage: what the step runner
 * calls after `serialize` and before `deserialize`. Everything streams, and
 * nothing unverified reaches a step.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  assertDigest,
  CairnError,
  ErrorCodes,
  type SerializedArtifact,
  type StorageDriver,
  sha256,
} from '@cairn/core';
import { fileSource } from '../storage/file-source';
import { localFileOf } from '../storage/local';
import { corruptError } from '../storage/verify';
import { packTree, unpackTree } from '../tar';

/** Options for {@link storeArtifact} and {@link materializeArtifact}. */
export interface ArtifactIoOptions {
  signal?: AbortSignal;
}

/**
 * Write a serialized artifact to storage: bytes as they are, a file streamed
 * from disk, a folder packed as a deterministic tar stream.
 *
 * @returns the digest and size of the stored object
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH when the file or folder is missing or of the wrong kind
 */
export async function storeArtifact(
  storage: StorageDriver,
  serialized: SerializedArtifact,
  options: ArtifactIoOptions = {},
): Promise<{ digest: string; size: number }> {
  const putOptions = options.signal ? { signal: options.signal } : {};
  if ('bytes' in serialized) {
    if (!(serialized.bytes instanceof Uint8Array)) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        'serialized artifact: "bytes" must be a Uint8Array',
      );
    }
    // Knowing the digest up front lets the store skip a write it already has.
    const { digest, size } = await storage.put(serialized.bytes, {
      ...putOptions,
      expectedDigest: sha256(serialized.bytes),
    });
    return { digest, size };
  }
  if ('file' in serialized) {
    const path = resolve(serialized.file);
    await expectKind(path, 'file');
    const { digest, size } = await storage.put(fileSource(path), putOptions);
    return { digest, size };
  }
  if ('dir' in serialized) {
    const path = resolve(serialized.dir);
    await expectKind(path, 'dir');
    const { digest, size } = await storage.put(packTree(path), putOptions);
    return { digest, size };
  }
  throw new CairnError(
    ErrorCodes.ARTIFACT_TYPE_MISMATCH,
    'serialized artifact must be { bytes }, { file } or { dir }',
  );
}

/**
 * Make a stored artifact available as a local path, verified.
 *
 * - `blob`: the store's own read-only file when it offers `localPath` (after
 *   re-hashing it), else a verified copy written to `destination`.
 * - `tree`: the tar unpacked into the folder `destination`. If the bytes turn
 *   out not to match the digest, everything unpacked is removed.
 *
 * @returns the path of the file or folder
 * @throws CAIRN_ARTIFACT_CORRUPT (naming the digest) when the bytes do not match
 * @throws CAIRN_ARTIFACT_NOT_FOUND when the store has no such object
 */
export async function materializeArtifact(
  storage: StorageDriver,
  ref: { digest: string; size: number },
  form: 'blob' | 'tree',
  destination: string,
  options: ArtifactIoOptions = {},
): Promise<string> {
  assertDigest(ref.digest);
  const target = resolve(destination);
  const getOptions = options.signal ? { signal: options.signal } : {};

  if (form === 'blob') {
    if (storage.capabilities?.localPath && storage.localPath) {
      const local = await storage.localPath(ref.digest);
      if (local) {
        const state = await storage.verify(ref.digest);
        if (state === 'ok') return local;
        if (state === 'corrupt') throw corruptError(ref.digest);
        // 'missing': deleted in between; fall through to get, which says NOT_FOUND.
      }
    }
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}-${Date.now().toString(36)}`;
    try {
      const source = await storage.get(ref.digest, getOptions);
      const handle = await open(partial, 'w', 0o644);
      try {
        for await (const chunk of source) await handle.write(chunk);
      } finally {
        await handle.close();
      }
      await rename(partial, target);
      return target;
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  if (form !== 'tree') {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `unknown artifact form ${JSON.stringify(form)}`);
  }
  const existing = await readdir(target).catch(() => undefined);
  if (existing && existing.length > 0) {
    throw new CairnError(
      ErrorCodes.STORAGE_FAILED,
      `cannot unpack artifact ${ref.digest} into ${target}: the folder is not empty`,
    );
  }
  try {
    await unpackTree(await storage.get(ref.digest, getOptions), target);
    return target;
  } catch (error) {
    await rm(target, { recursive: true, force: true });
    if (
      CairnError.is(error) &&
      error.code === ErrorCodes.ARTIFACT_CORRUPT &&
      error.message.includes(ref.digest)
    ) {
      throw error;
    }
    // A damaged archive can break the tar reader before the digest check at the end runs.
    if (!CairnError.is(error) || error.code !== ErrorCodes.ARTIFACT_NOT_FOUND) {
      const state = await storage.verify(ref.digest).catch(() => undefined);
      if (state === 'corrupt') throw corruptError(ref.digest, undefined, error);
    }
    throw error;
  }
}

async function expectKind(path: string, kind: 'file' | 'dir'): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  const ok = kind === 'file' ? info?.isFile() : info?.isDirectory();
  if (!ok) {
    const what = kind === 'file' ? 'a regular file' : 'a folder';
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      info ? `${path} is not ${what}` : `${path} does not exist (expected ${what})`,
    );
  }
}

/** Blobs up to this size are read into memory once, verified, and handed to `deserialize`. */
export const SMALL_BLOB_BYTES = 64 * 1024;

/**
 * A small blob read once and verified, straight from a store with local paths:
 * the runner hands the bytes to `deserialize` so they are not read again.
 * `undefined` when the object is large, the store has no local paths, or the
 * object is missing (the caller then materializes as usual and reports it).
 *
 * @throws CAIRN_ARTIFACT_CORRUPT when the bytes do not hash to the digest
 */
export async function readSmallBlob(
  storage: StorageDriver,
  ref: { digest: string; size: number },
): Promise<{ path: string; bytes: Uint8Array } | undefined> {
  if (ref.size > SMALL_BLOB_BYTES || !storage.capabilities?.localPath || !storage.localPath) return undefined;
  assertDigest(ref.digest);
  // Opening the file says whether it is there (gone or not a file: undefined, as localPath answers).
  const found = localFileOf(storage, ref.digest);
  const path = typeof found === 'object' ? await found : found;
  if (!path) return undefined;
  let bytes: Uint8Array;
  try {
    // Synchronous: for a few KiB it is cheaper than four thread-pool round trips.
    bytes = readUpTo(path, ref.size + 1);
  } catch {
    return undefined;
  }
  // More bytes than the ref says (one more is read to tell) hash to another digest: corrupt.
  if (sha256(bytes) !== ref.digest) throw corruptError(ref.digest);
  return { path, bytes };
}

/**
 * At most `limit` bytes of a file from its start: open, read, close. readFileSync asks fstat for
 * the size first, a syscall more per input of every step, where the caller knows the size.
 */
function readUpTo(path: string, limit: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(limit);
    let length = 0;
    while (length < limit) {
      const read = readSync(fd, buffer, length, limit - length, null);
      if (read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
