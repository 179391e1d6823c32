/**
 * The storage contract: where artifact bytes live.
 *
 * Storage is content-addressed. A driver never chooses a key: the key of an
 * object is the sha256 digest of its bytes (64 lowercase hex characters), so
 * two writers of the same artifact write the same object and a reader can
 * always check what it got. Everything above the bytes — artifact types,
 * names, lineage — belongs to the metadata store, not here.
 *
 * A driver is a plain object returned by a factory (`localStore(options)`,
 * `s3Storage(options)`). Three rules every driver keeps, and that
 * `testStorage` from `@cairn/testkit` checks:
 *
 * 1. **Atomic writes.** An object is either absent or complete. A write that
 *    fails or is aborted half way leaves nothing visible under the digest.
 * 2. **Streaming.** `put` and `get` move bytes as streams; a 2 GB artifact is
 *    never held in memory.
 * 3. **Verification.** `get` checks the digest of what it streams and fails
 *    the stream with `CAIRN_ARTIFACT_CORRUPT` when the bytes do not match;
 *    `verify` re-hashes an object on demand.
 *
 * @example
 * ```ts
 * const store = localStore({ dir: '.cairn/artifacts' });
 * const { digest, size } = await store.put(Readable.from(['hello']));
 * for await (const chunk of await store.get(digest)) process.stdout.write(chunk);
 * ```
 */

/** A sha256 digest: 64 lowercase hex characters. The key of every stored object. */
export type Digest = string;

/** What a driver can do beyond the required surface. */
export interface StorageCapabilities {
  /**
   * The driver can hand out a path on the local file system where the object
   * can be read directly (no copy). Executors on the same machine use it to
   * avoid materializing large inputs.
   * @default false
   */
  localPath?: boolean;
  /**
   * Objects survive across processes and machines (false for an in-memory
   * store, which the worker pool therefore cannot share).
   * @default true
   */
  persistent?: boolean;
  /**
   * The store can be reached from other machines (S3: yes; a local folder: no).
   * The distributed executor refuses a store that is not shared.
   * @default false
   */
  shared?: boolean;
}

/** Size and presence of one stored object. */
export interface ObjectStat {
  digest: Digest;
  /** Size in bytes. */
  size: number;
}

/** Options for one write. */
export interface PutOptions {
  /**
   * The digest the caller expects. When given, a mismatch fails the write with
   * `CAIRN_ARTIFACT_CORRUPT` and nothing is stored. Drivers may also use it to
   * skip the upload when the object already exists.
   */
  expectedDigest?: Digest;
  /** Aborting the signal aborts the write; nothing is left visible. */
  signal?: AbortSignal;
}

/** Options for one read. */
export interface GetOptions {
  signal?: AbortSignal;
}

/**
 * How to re-create a plugin in another process or thread: the module to
 * import, the export to call, and the JSON options to call it with. Plugins
 * that set it can follow a task into the worker pool.
 *
 * @example { module: '@cairn/runtime', export: 'localStore', options: { dir: '/abs/.cairn/artifacts' } }
 */
export interface PluginRef {
  module: string;
  export: string;
  options: unknown;
}

/** The object every storage plugin's factory returns. */
export interface StorageDriver {
  /** Always `'storage'`: tells plugin kinds apart in `cairn.config.ts`. */
  readonly kind: 'storage';
  /** Short id of the implementation, e.g. `'local'`, `'s3'`. Used in messages. */
  readonly name: string;
  /** Optional abilities; absent flags take their `@default`. */
  readonly capabilities?: StorageCapabilities;
  /**
   * How to re-create this driver in a worker (see {@link PluginRef}). Without
   * it the worker pool cannot use the store.
   */
  readonly ref?: PluginRef;

  /**
   * Store a stream of bytes. The driver hashes while it writes, then makes the
   * object visible under its digest in one atomic step (rename, completed
   * multipart upload). Writing bytes that already exist is cheap and safe, and
   * replaces an existing object whose bytes are corrupt.
   *
   * @returns the digest and size of what was stored
   * @throws CAIRN_ARTIFACT_CORRUPT when `expectedDigest` does not match
   * @throws CAIRN_STORAGE_FAILED on I/O or network errors (nothing stored)
   */
  put(source: AsyncIterable<Uint8Array> | Uint8Array, options?: PutOptions): Promise<ObjectStat>;

  /**
   * Stream an object's bytes. The stream verifies the digest as it goes and
   * errors with `CAIRN_ARTIFACT_CORRUPT` at the end if the bytes do not match
   * (consumers must not trust data from a stream that errored).
   *
   * @throws CAIRN_ARTIFACT_NOT_FOUND when no object has this digest
   * @throws CAIRN_ARTIFACT_KEY_INVALID when `digest` is not 64 hex characters
   */
  get(digest: Digest, options?: GetOptions): Promise<AsyncIterable<Uint8Array>>;

  /** Size of an object, or `undefined` when it does not exist. Never hashes. */
  stat(digest: Digest): Promise<ObjectStat | undefined>;

  /**
   * Re-hash an object and compare it with its digest.
   * @returns `'ok'`, `'missing'` or `'corrupt'`
   */
  verify(digest: Digest): Promise<'ok' | 'missing' | 'corrupt'>;

  /** Every stored object, in no particular order. */
  list(): AsyncIterable<ObjectStat>;

  /** Remove an object. Removing a missing object is not an error. */
  delete(digest: Digest): Promise<void>;

  /**
   * A local path to read the object from without copying, when
   * `capabilities.localPath` is true. The file must not be modified.
   */
  localPath?(digest: Digest): Promise<string | undefined>;

  /** Release connections and handles. */
  close?(): Promise<void>;
}
