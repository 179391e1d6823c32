/**
 * An in-memory storage driver with the same contract as the local store.
 * Nothing persists and nothing is shared with other processes, so it suits
 * tests and the in-process executor only.
 */
import { assertDigest, CairnError, ErrorCodes, type ObjectStat, type StorageDriver } from '@cairn/core';
import {
  asChunks,
  assertExpectedDigest,
  discard,
  hashCounter,
  verifiedStream,
} from '@cairn/runtime/plugin-kit';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The map that holds the objects (digest → bytes). Pass your own to look
   * at or tamper with stored bytes in tests.
   * @default a new, private map
   */
  objects?: Map<string, Uint8Array>;
}

/**
 * Keep artifacts in a `Map`, for tests.
 *
 * @example
 * ```ts
 * const storage = memoryStore();
 * const { digest } = await storage.put(new TextEncoder().encode('hello'));
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): StorageDriver {
  if (options.objects !== undefined && !(options.objects instanceof Map)) {
    throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, 'memoryStore: option "objects" must be a Map', {
      context: { plugin: 'memory' },
    });
  }
  const objects = options.objects ?? new Map<string, Uint8Array>();

  return {
    kind: 'storage',
    name: 'memory',
    capabilities: { localPath: false, persistent: false, shared: false },

    async put(source, putOptions = {}) {
      const { expectedDigest, signal } = putOptions;
      if (expectedDigest !== undefined) assertDigest(expectedDigest, 'expected digest');
      signal?.throwIfAborted();
      if (expectedDigest !== undefined) {
        const existing = objects.get(expectedDigest);
        if (existing && (await digestOf(existing)) === expectedDigest) {
          await discard(source);
          return { digest: expectedDigest, size: existing.byteLength };
        }
      }
      const counter = hashCounter();
      const chunks: Uint8Array[] = [];
      for await (const chunk of asChunks(source)) {
        signal?.throwIfAborted();
        counter.update(chunk);
        // Copy: the caller may reuse its buffer after the write.
        chunks.push(chunk.slice());
      }
      signal?.throwIfAborted();
      const digest = counter.digest();
      assertExpectedDigest(expectedDigest, digest);
      objects.set(digest, Buffer.concat(chunks));
      return { digest, size: counter.size };
    },

    async get(digest, getOptions = {}) {
      assertDigest(digest);
      getOptions.signal?.throwIfAborted();
      const bytes = objects.get(digest);
      if (!bytes)
        throw new CairnError(ErrorCodes.ARTIFACT_NOT_FOUND, `artifact ${digest} is not in the memory store`);
      return verifiedStream(chunked(bytes), digest, getOptions.signal ? { signal: getOptions.signal } : {});
    },

    async stat(digest): Promise<ObjectStat | undefined> {
      assertDigest(digest);
      const bytes = objects.get(digest);
      return bytes ? { digest, size: bytes.byteLength } : undefined;
    },

    async verify(digest) {
      assertDigest(digest);
      const bytes = objects.get(digest);
      if (!bytes) return 'missing';
      return (await digestOf(bytes)) === digest ? 'ok' : 'corrupt';
    },

    async *list() {
      for (const [digest, bytes] of [...objects]) yield { digest, size: bytes.byteLength };
    },

    async delete(digest) {
      assertDigest(digest);
      objects.delete(digest);
    },
  };
}

async function* chunked(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  const size = 256 * 1024;
  // Copies, so a consumer that writes into a chunk cannot change the stored object.
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.slice(at, at + size);
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  const counter = hashCounter();
  counter.update(bytes);
  return counter.digest();
}
