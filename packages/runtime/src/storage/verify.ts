/**
 * Hashing helpers every storage driver shares: one place that decides what
 * "the bytes match their digest" means and what error says they don't.
 */
import { createHash, type Hash } from 'node:crypto';
import { CairnError, ErrorCodes } from '@cairn/core';

/** Digest and size of a stream, computed as it flows past. */
export interface HashCounter {
  /** Bytes seen so far. */
  readonly size: number;
  /** Feed one chunk. */
  update(chunk: Uint8Array): void;
  /** The sha256 hex digest of everything fed; call once, at the end. */
  digest(): string;
}

/** Start a {@link HashCounter}: drivers feed it each chunk they write. */
export function hashCounter(): HashCounter {
  const hash: Hash = createHash('sha256');
  let size = 0;
  return {
    get size() {
      return size;
    },
    update(chunk) {
      hash.update(chunk);
      size += chunk.byteLength;
    },
    digest: () => hash.digest('hex'),
  };
}

/** The error every driver raises when bytes do not hash to their digest. */
export function corruptError(digest: string, detail?: string, cause?: unknown): CairnError {
  return new CairnError(
    ErrorCodes.ARTIFACT_CORRUPT,
    `artifact ${digest} is corrupt: ${detail ?? 'its bytes do not hash to its digest'}`,
    {
      hint: 'Delete the object and re-run the step that produced it; `put` of the right bytes repairs it.',
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/**
 * The check every driver makes at the end of a `put` with `expectedDigest`:
 * bytes that hash to something else are refused before they are stored.
 */
export function assertExpectedDigest(expected: string | undefined, actual: string): void {
  if (expected !== undefined && actual !== expected)
    throw corruptError(expected, `refusing to store it: the bytes given hash to ${actual}`);
}

/** Options for {@link verifiedStream}. */
export interface VerifiedStreamOptions {
  /** The size the object must have; a mismatch is reported as corruption too. */
  size?: number;
  /** Aborting stops the stream with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Pass `source` through unchanged while hashing it; once it ends, fail with
 * `CAIRN_ARTIFACT_CORRUPT` (naming `digest`) if the bytes do not match.
 * Consumers must treat data from a stream that errored as untrusted: the
 * check can only happen after the last byte.
 */
export async function* verifiedStream(
  source: AsyncIterable<Uint8Array>,
  digest: string,
  options: VerifiedStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  const counter = hashCounter();
  options.signal?.throwIfAborted();
  for await (const chunk of source) {
    options.signal?.throwIfAborted();
    counter.update(chunk);
    yield chunk;
  }
  if (options.size !== undefined && counter.size !== options.size) {
    throw corruptError(digest, `expected ${options.size} bytes, read ${counter.size}`);
  }
  const actual = counter.digest();
  if (actual !== digest) throw corruptError(digest, `its bytes hash to ${actual}`);
}

/** Hash a whole stream: its digest and size. */
export async function hashStream(
  source: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<{
  digest: string;
  size: number;
}> {
  const counter = hashCounter();
  for await (const chunk of source) {
    signal?.throwIfAborted();
    counter.update(chunk);
  }
  return { digest: counter.digest(), size: counter.size };
}

/** Accept what `put` accepts — bytes or a stream — as a stream. */
export async function* asChunks(source: AsyncIterable<Uint8Array> | Uint8Array): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    if (source.byteLength > 0) yield source;
    return;
  }
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) {
      throw new CairnError(
        ErrorCodes.STORAGE_FAILED,
        `a storage source must yield Uint8Array chunks, got ${chunk === null ? 'null' : typeof chunk}`,
      );
    }
    yield chunk;
  }
}

/**
 * Close a source that will not be read (a `put` that found the object
 * already stored), so file handles and sockets behind it are released.
 */
export async function discard(source: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
  if (source instanceof Uint8Array) return;
  await source[Symbol.asyncIterator]().return?.();
}
