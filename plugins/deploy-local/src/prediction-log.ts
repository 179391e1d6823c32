/**
 * Prediction logging: a sampled share of the requests a serving deployer
 * answers, one JSON line per row (the row, its prediction, the version,
 * role and revision that answered, the unit id), written to the project's
 * storage in batches. Each batch is an immutable blob under its digest;
 * `<stateDir>/deployments/prediction-log/<endpoint>.jsonl` lists the batches
 * of an endpoint, one line per batch, appended after the blob is stored (a
 * crash in between leaves an unlisted blob, never a listed one that is
 * missing); the lists are fsynced when the log is closed, the blobs by
 * every put. A monitoring step reads them back with {@link servedRows}.
 *
 * JSON lines, not Arrow: the server must stay light on the request path and
 * depend on no table library, and a served row is any JSON value (an array
 * of numbers, an object of features); `@cairn/tabular` builds a table from
 * the rows when a step needs one.
 */
import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CairnError,
  type ServedRow as CoreServedRow,
  ErrorCodes,
  type ModelVersionRef,
  type StorageDriver,
} from '@cairn/core';
import { deploymentsDir } from './state';

/** Resolved `predictionLog` options. */
export interface PredictionLogSettings {
  /** Share of requests logged, in (0, 1]. */
  sample: number;
  /** Rows per batch: a batch is written once this many are waiting. */
  batchRows: number;
  /** Waiting rows are written at least this often, in ms. */
  flushIntervalMs: number;
  /** Most rows held in memory; past it, new rows are dropped (and counted) until a write frees room. */
  maxPendingRows: number;
}

/** One logged row, as a line of a batch. */
/** One logged answer (the core's `ServedRow`). */
export type ServedRow = CoreServedRow;

/** One line of an endpoint's batch list: where a batch is and what it holds. */
export interface PredictionBatch {
  endpoint: string;
  /** The blob in the project's storage. */
  digest: string;
  size: number;
  rows: number;
  /** ISO-8601 times of its first and last rows. */
  from: string;
  to: string;
  /** Rows by model version. */
  versions: Record<string, number>;
}

/**
 * What every logged row of one route of one revision shares, serialized
 * once: the members of a {@link ServedRow} between `at` and `unitId`.
 */
interface Source {
  endpoint: string;
  model: string;
  version: number;
  role: 'primary' | 'canary';
  revision: number;
  /** `"endpoint":…,"model":…,"version":…,"role":…,"revision":…` */
  json: string;
}

/**
 * A batch is written once it holds about this many bytes, whatever `batchRows` says: wide rows do
 * not make one batch, and the buffer it is built in, grow to `batchRows` of them. (What waits in
 * all while a write is slow is bounded by `maxPendingRows`.)
 */
export const BATCH_BYTES = 4 * 1024 * 1024;

/** The buffer a batch is encoded in: a batch is written once it holds BATCH_BYTES, so it seldom grows. */
const BATCH_CAPACITY = BATCH_BYTES + 256 * 1024;

/** Written batches' buffers kept for later ones: one being filled while one is written, and one more. */
const SPARE_BUFFERS = 2;

const logDir = (stateDir: string) => join(deploymentsDir(stateDir), 'prediction-log');
const indexFile = (stateDir: string, endpoint: string) => join(logDir(stateDir), `${endpoint}.jsonl`);

/** `,"key":<json>`, or nothing for a value JSON leaves out (undefined, a function), as JSON.stringify of the row would. */
function member(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? '' : `,"${key}":${json}`;
}

/**
 * Lines as UTF-8 bytes, written one by one into one buffer: no batch-sized
 * string to build and encode again (fresh memory is what costs most here:
 * page faults).
 */
class Lines {
  private buffer: Buffer;
  private length = 0;

  /** `reuse`: a buffer a written batch no longer needs, when it holds `capacity`. */
  constructor(capacity: number, reuse?: Buffer) {
    this.buffer = reuse && reuse.length >= capacity ? reuse : Buffer.allocUnsafe(capacity);
  }

  /** The whole buffer the lines are in, for the next batch once these are written. */
  get storage(): Buffer {
    return this.buffer;
  }

  append(line: string): void {
    // At most 3 bytes of UTF-8 per UTF-16 unit: the line always fits.
    this.reserve(3 * line.length);
    this.length += this.buffer.write(line, this.length, 'utf8');
  }

  appendBytes(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, needed));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  get size(): number {
    return this.length;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/**
 * Lines gather in a string and are encoded into the batch's bytes once it
 * holds this many characters: one UTF-8 encoding call per line cost as much
 * as serializing it, and a longer string is a chain of pieces that lives
 * through young-generation collections (each one copies it) until encoded.
 */
const SETTLE_CHARS = 2 * 1024;

/**
 * An endpoint's logged rows waiting to be written, already serialized: a
 * waiting row is bytes outside the JavaScript heap, not the request's row
 * and prediction objects, which would otherwise live on through every
 * garbage collection until their batch is written. Of the lines it keeps
 * only what the batch's list line says: how many, the first and last times,
 * and how many each model version answered (no array of every line's time
 * and version to grow and keep alive).
 */
class PendingLines {
  private readonly lines: Lines;
  private text = '';
  private count = 0;
  /** ISO-8601 times of the first and last lines. */
  private first = '';
  private last = '';
  /** Lines by model version. */
  private readonly versions = new Map<number, number>();

  constructor(capacity: number, reuse?: Buffer) {
    this.lines = new Lines(capacity, reuse);
  }

  /** The buffer the lines were encoded in: free for another batch once this one is stored. */
  get buffer(): Buffer {
    return this.lines.storage;
  }

  get rows(): number {
    return this.count;
  }

  /** About the bytes held so far (the lines not yet encoded are counted by their length). */
  get size(): number {
    return this.lines.size + this.text.length;
  }

  add(line: string, at: string, version: number): void {
    this.text += line;
    if (this.text.length >= SETTLE_CHARS) this.settle();
    this.counted(at, version);
  }

  private counted(at: string, version: number): void {
    if (this.count++ === 0) this.first = at;
    this.last = at;
    this.versions.set(version, (this.versions.get(version) ?? 0) + 1);
  }

  /** Count `other`'s lines after these. */
  private merge(other: PendingLines): void {
    if (other.count === 0) return;
    if (this.count === 0) this.first = other.first;
    this.count += other.count;
    this.last = other.last;
    for (const [version, lines] of other.versions)
      this.versions.set(version, (this.versions.get(version) ?? 0) + lines);
  }

  /** The lines as UTF-8, one JSON document per line. */
  bytes(): Buffer {
    this.settle();
    return this.lines.bytes();
  }

  private settle(): void {
    if (this.text === '') return;
    this.lines.append(this.text);
    this.text = '';
  }

  /** The first `count` lines of `failed`, then every line of `later`: a failed batch back in front of newer rows. */
  static join(failed: PendingLines, count: number, later: PendingLines | undefined): PendingLines {
    const bytes = failed.bytes();
    const after = later?.bytes();
    let end = 0;
    // Sized for what it holds: where the lines end is known only once they are read.
    const joined = new PendingLines(bytes.length + (after?.length ?? 0) + 1024);
    for (let line = 0; line < count; line++) {
      // A line ends at its newline, and JSON escapes every newline inside a value.
      const next = bytes.indexOf(10, end) + 1;
      // Only when a write failed: each kept line's time and version are read back from its JSON.
      const { at, version } = JSON.parse(bytes.toString('utf8', end, next)) as ServedRow;
      joined.counted(at, version);
      end = next;
    }
    joined.lines.appendBytes(bytes.subarray(0, end));
    if (later && after) {
      joined.lines.appendBytes(after);
      joined.merge(later);
    }
    return joined;
  }

  /** The batch's line in its endpoint's list, once stored under `digest`. */
  entry(endpoint: string, digest: string, size: number): PredictionBatch {
    const versions: Record<string, number> = {};
    for (const [version, lines] of this.versions) versions[version] = lines;
    return { endpoint, digest, size, rows: this.count, from: this.first, to: this.last, versions };
  }
}

export class PredictionLog {
  /** Rows waiting to be written, by endpoint. */
  private pending = new Map<string, PendingLines>();
  /** Rows in `pending` (a request can bring several): what `maxPendingRows` bounds. */
  private pendingRows = 0;
  /** The last answer's millisecond and its ISO-8601 time: answers come a few per millisecond. */
  private lastMs = Number.NaN;
  private lastAt = '';
  /** The last answer's second and its ISO-8601 time up to the milliseconds (`…T12:34:56.`). */
  private lastSecond = Number.NaN;
  private secondPrefix = '';
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** The shared part of the rows of a live route, by its model reference (the same object for every request). */
  private readonly sources = new WeakMap<object, Source>();
  /** The log's folder exists (made once; again if it disappears). */
  private folderMade = false;
  /**
   * Buffers of batches already stored, for the next ones (at most {@link SPARE_BUFFERS}): a fresh
   * buffer of megabytes is fresh memory, and every page of it faults on its first write (a few
   * µs each in a virtual machine), which cost more than encoding the lines into it. Storage
   * drivers copy what they keep (the StorageDriver contract: a caller may reuse its buffer).
   */
  private readonly spare: Buffer[] = [];
  /** Endpoints whose list was appended to and not yet fsynced. */
  private readonly unsynced = new Set<string>();

  constructor(
    private readonly storage: StorageDriver,
    private readonly stateDir: string,
    private readonly settings: PredictionLogSettings,
    private readonly counters: { logged(rows: number): void; dropped(rows: number): void } = {
      logged: () => {},
      dropped: () => {},
    },
  ) {
    this.timer = setInterval(() => void this.flush().catch(() => {}), settings.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Keep an answered request's rows when it is sampled; never throws, never
   * waits. Each row is serialized now, with its prediction, into its
   * endpoint's waiting bytes; a row or prediction JSON cannot hold (a BigInt,
   * a cycle) is dropped and counted.
   */
  offer(
    endpoint: string,
    model: ModelVersionRef,
    role: 'primary' | 'canary',
    revision: number,
    unitId: string | undefined,
    rows: readonly unknown[],
    predictions: readonly unknown[],
  ): void {
    if (this.closed || (this.settings.sample < 1 && Math.random() >= this.settings.sample)) return;
    const room = this.settings.maxPendingRows - this.pendingRows;
    const kept = Math.min(room, rows.length);
    let dropped = rows.length - Math.max(0, kept);
    /** The endpoint's batch holds BATCH_BYTES. */
    let full = false;
    if (kept > 0) {
      const ms = Date.now();
      if (ms !== this.lastMs) {
        this.lastMs = ms;
        this.lastAt = this.isoTime(ms);
      }
      const at = this.lastAt;
      const source = this.sourceOf(endpoint, model, role, revision);
      let waiting = this.pending.get(endpoint);
      if (!waiting) {
        // Sized like the endpoint's last batch, so it is seldom grown.
        // A whole batch's room at once: the memory is the system's promise until a line is written
        // into it (pages are committed as they are touched), and a buffer grown by doubling copied
        // what it held and faulted fresh pages at each step.
        const fits = this.spare.findIndex((buffer) => buffer.length >= BATCH_CAPACITY);
        waiting = new PendingLines(BATCH_CAPACITY, fits < 0 ? undefined : this.spare.splice(fits, 1)[0]);
        this.pending.set(endpoint, waiting);
      }
      // The members in ServedRow's order: at, endpoint, model, version, role, revision, unitId, row, prediction.
      const head = `{"at":"${at}",${source.json}${unitId === undefined ? '' : member('unitId', unitId)}`;
      for (let i = 0; i < kept; i++) {
        let line: string;
        try {
          line = `${head}${member('row', rows[i])}${member('prediction', predictions[i])}}\n`;
        } catch {
          dropped++;
          continue;
        }
        waiting.add(line, at, source.version);
        this.pendingRows++;
      }
      full = waiting.size >= BATCH_BYTES;
    }
    if (dropped > 0) this.counters.dropped(dropped);
    if ((full || this.pendingRows >= this.settings.batchRows) && !this.writing)
      void this.flush().catch(() => {});
  }

  /**
   * `new Date(ms).toISOString()`, formatted once per second: toISOString goes through the C
   * library's formatting and the time-zone cache, and at a few answers per millisecond the
   * millisecond changes on nearly every one (about 1.4 µs of a logged request's time).
   */
  private isoTime(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      // Every ISO string ends `.mmmZ` (six-digit years included): keep what comes before the milliseconds.
      this.secondPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    }
    const milli = ms - second * 1000;
    return `${this.secondPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }

  private sourceOf(
    endpoint: string,
    model: ModelVersionRef,
    role: 'primary' | 'canary',
    revision: number,
  ): Source {
    const known = this.sources.get(model);
    if (
      known?.endpoint === endpoint &&
      known.revision === revision &&
      known.role === role &&
      known.model === model.model &&
      known.version === model.version
    ) {
      return known;
    }
    const source: Source = {
      endpoint,
      model: model.model,
      version: model.version,
      role,
      revision,
      json: JSON.stringify({ endpoint, model: model.model, version: model.version, role, revision }).slice(
        1,
        -1,
      ),
    };
    this.sources.set(model, source);
    return source;
  }

  /**
   * Write what is waiting, one batch per endpoint, and wait for it. Rows of
   * a batch that fails to write go back in front of newer rows, within
   * `maxPendingRows` (what does not fit is dropped and counted).
   */
  async flush(): Promise<void> {
    // A write that failed put its rows back in front: this flush writes them again.
    while (this.writing) await this.writing.catch(() => {});
    if (this.pending.size === 0) return;
    const taken = this.pending;
    this.pending = new Map();
    this.pendingRows = 0;
    this.writing = this.write(taken).finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  private async write(taken: Map<string, PendingLines>): Promise<void> {
    let firstError: unknown;
    let dropped = 0;
    for (const [endpoint, batch] of taken) {
      try {
        await this.writeBatch(endpoint, batch);
        this.counters.logged(batch.rows);
        // Stored: its buffer serves a later batch (the failed ones' stay theirs until re-joined).
        if (this.spare.length < SPARE_BUFFERS) this.spare.push(batch.buffer);
      } catch (error) {
        firstError ??= error;
        // Back in front of the rows that came meanwhile, as many as fit.
        const later = this.pending.get(endpoint);
        const fits = Math.max(0, Math.min(batch.rows, this.settings.maxPendingRows - this.pendingRows));
        dropped += batch.rows - fits;
        if (fits > 0) {
          this.pending.set(endpoint, PendingLines.join(batch, fits, later));
          this.pendingRows += fits;
        }
      }
    }
    if (dropped > 0) this.counters.dropped(dropped);
    if (firstError !== undefined) throw firstError;
  }

  /** One batch of an endpoint's rows to storage, then its line in the endpoint's list. */
  private async writeBatch(endpoint: string, batch: PendingLines): Promise<void> {
    const bytes = batch.bytes();
    // No expected digest: a batch is new bytes (its first row's time is in it), so the store's own
    // hash of what it writes is the only one needed; a second one here cost as much again.
    const { digest, size } = await this.storage.put(bytes);
    const entry = batch.entry(endpoint, digest, size);
    // One small O_APPEND write per batch: several serving processes can share the list. Not
    // fsynced per batch (the blob it lists is durable before the line is written, so a power cut
    // can lose a line, never list a missing blob; a process that exits loses nothing): the lists
    // written to are fsynced once, on close.
    const handle = await this.openIndex(endpoint);
    try {
      await handle.write(`${JSON.stringify(entry)}\n`);
    } finally {
      await handle.close();
    }
    this.unsynced.add(endpoint);
  }

  private async openIndex(endpoint: string): Promise<FileHandle> {
    if (this.folderMade) {
      try {
        return await open(indexFile(this.stateDir, endpoint), 'a');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    await mkdir(logDir(this.stateDir), { recursive: true });
    this.folderMade = true;
    return open(indexFile(this.stateDir, endpoint), 'a');
  }

  /** Stop taking rows and write every one waiting (what `close()` and SIGTERM in `cairn serve` run). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    try {
      await this.flush();
    } catch (error) {
      // Nothing comes after close to write them: what a failed write put back is lost, and said so.
      const lost = this.pendingRows;
      this.pending = new Map();
      this.pendingRows = 0;
      if (lost > 0) this.counters.dropped(lost);
      throw new CairnError(
        ErrorCodes.STORAGE_FAILED,
        `prediction log: ${lost} logged row(s) could not be written to storage (${this.storage.name}) and are lost: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    await this.syncIndexes();
  }

  /** Make the lists appended to since the last sync durable. */
  private async syncIndexes(): Promise<void> {
    for (const endpoint of [...this.unsynced]) {
      let handle: FileHandle;
      try {
        handle = await open(indexFile(this.stateDir, endpoint), 'r+');
      } catch (error) {
        // Removed behind our back: nothing left to make durable.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        this.unsynced.delete(endpoint);
        continue;
      }
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.unsynced.delete(endpoint);
    }
  }
}

/** Where the served rows of a deployer's state folder are: its storage and state folder. */
export interface ServedRowsSource {
  storage: StorageDriver;
  /** The deployer's state folder (`deployerStateDir(<project>/.cairn)` for `cairn serve`). */
  stateDir: string;
}

/** The batches logged for an endpoint, oldest first (an empty list when none were). */
export async function listPredictionBatches(stateDir: string, endpoint: string): Promise<PredictionBatch[]> {
  let text: string;
  try {
    text = await readFile(indexFile(stateDir, endpoint), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const batches: PredictionBatch[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      batches.push(JSON.parse(line) as PredictionBatch);
    } catch {
      // A line still being appended by another process; it is read complete next time.
    }
  }
  return batches;
}

/**
 * The rows an endpoint served and logged, oldest first: what a monitoring
 * step compares with the training data to detect drift.
 *
 * @param options.version only rows answered by this model version
 * @param options.since only rows answered at or after this time
 * @throws CAIRN_ARTIFACT_NOT_FOUND when a listed batch is missing from storage
 */
export async function servedRows(
  source: ServedRowsSource,
  endpoint: string,
  options: { version?: number; since?: string | Date } = {},
): Promise<ServedRow[]> {
  const since = options.since === undefined ? undefined : new Date(options.since).toISOString();
  const rows: ServedRow[] = [];
  for (const batch of await listPredictionBatches(source.stateDir, endpoint)) {
    if (since !== undefined && batch.to < since) continue;
    if (options.version !== undefined && !batch.versions[options.version]) continue;
    const stat = await source.storage.stat(batch.digest);
    if (!stat) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_NOT_FOUND,
        `prediction log batch ${batch.digest} of endpoint ${endpoint} is not in storage ${source.storage.name}`,
      );
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of await source.storage.get(batch.digest)) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const row = JSON.parse(line) as ServedRow;
      if (options.version !== undefined && row.version !== options.version) continue;
      if (since !== undefined && row.at < since) continue;
      rows.push(row);
    }
  }
  return rows;
}
