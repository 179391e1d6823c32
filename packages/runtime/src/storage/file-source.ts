/**
 * A `put` source that is one whole file on disk: what `storeArtifact` passes
 * for a step's `{ file }` output. Every store can read it as it reads any
 * source (an async iterable of chunks, the file opened on the first read);
 * the local store sees the path and reads the file itself, in large pieces
 * into reused buffers (issue #12: put throughput), instead of through a
 * stream that allocates a fresh buffer per 256 KiB.
 */
import { createReadStream } from 'node:fs';

/** Where a file source keeps its path; a registered symbol, so every bundle of the runtime sees the same one. */
const FILE_PATH = Symbol.for('cairn.runtime.fileSource.path');

/** A source of one whole file's bytes that also names the file. */
export interface FileSource extends AsyncIterable<Uint8Array> {
  readonly [FILE_PATH]: string;
}

/** The bytes of the file at `path`, read only when iterated; an open error surfaces on the first read. */
export function fileSource(path: string): FileSource {
  return {
    [FILE_PATH]: path,
    [Symbol.asyncIterator]: () =>
      createReadStream(path, { highWaterMark: 256 * 1024 })[Symbol.asyncIterator](),
  };
}

/** The file a source reads, if it is a {@link fileSource}. */
export function filePathOf(source: AsyncIterable<Uint8Array> | Uint8Array): string | undefined {
  const path = (source as Partial<FileSource>)[FILE_PATH];
  return typeof path === 'string' ? path : undefined;
}
