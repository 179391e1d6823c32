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
 *
 * This file is the driver; the object folder and the write path are in
 * local-objects.ts, the file input/output under them in local-files.ts.
 */
import { statSync } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { CairnError, ErrorCodes, isDigest, type PutOptions, type StorageDriver } from '@cairn/core';
import { hashFile, notFoundOr, statQuick, storageFailed } from './local-files';
import { objectFolders, putObject, unsyncedObjects } from './local-objects';
import { verifiedStream } from './verify';

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

/** Each local store's `localPath`, to where it keeps an object (its views share the function). */
const objectPaths = new WeakMap<NonNullable<StorageDriver['localPath']>, (digest: string) => string>();

/**
 * For the orchestrator's stamps: where a local store (or a view of one) keeps an
 * object, without the stat `localPath` makes — the caller stats the file itself.
 * `undefined` for any other store.
 */
function objectPathOf(storage: StorageDriver): ((digest: string) => string) | undefined {
  return storage.localPath ? objectPaths.get(storage.localPath) : undefined;
}

/**
 * Where `storage` keeps `digest` as a local file, for a caller that opens or stats it next and
 * finds out then whether it is there: a local store's path without the stat `localPath` makes,
 * else `localPath`'s answer (a promise); `undefined` for a store without local files.
 */
export function localFileOf(
  storage: StorageDriver,
  digest: string,
): string | undefined | Promise<string | undefined> {
  // A local store's path comes at once, without a promise: every input and output of a step asks.
  const objectPath = objectPathOf(storage);
  return objectPath ? objectPath(digest) : storage.localPath?.(digest);
}

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

/** Chunk size of the streams `get` returns. */
const READ_CHUNK = 256 * 1024;

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
  const folders = objectFolders(dir);
  const { objectsDir, objectPath } = folders;
  const unsynced = unsyncedObjects(folders);

  const driver: StorageDriver = {
    kind: 'storage',
    name: 'local',
    capabilities: { localPath: true, persistent: true, shared: false },
    ref: { module: '@cairn/runtime', export: 'localStore', options: { dir } },

    put(source, putOptions: PutOptions = {}) {
      const defer = (putOptions as { [DEFER_SYNC]?: boolean })[DEFER_SYNC] === true;
      return putObject(folders, unsynced, source, putOptions, defer);
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
  pendingSyncs.set(driver, { sync: (digests) => unsynced.sync(digests) });
  objectPaths.set(driver.localPath!, objectPath);
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
