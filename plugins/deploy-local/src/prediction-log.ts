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

const logDir = (stateDir: string) => join(deploymentsDir(stateDir), 'prediction-log');
const indexFile = (stateDir: string, endpoint: string) => join(logDir(stateDir), `${endpoint}.jsonl`);

/** `,"key":<json>`, or nothing for a value JSON leaves out (undefined, a function), as JSON.stringify of the row would. */
function member(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? '' : `,"${key}":${json}`;
}

/**
 * One answered request taken into the log: its first `kept` rows and their
 * predictions, held by reference and serialized when the batch is written,
 * off the request's path.
 */
interface Taken {
  /** When it was answered (ms since the epoch). */
  ms: number;
  source: Source;
  unitId: string | undefined;
  rows: readonly unknown[];
  predictions: readonly unknown[];
  kept: number;
}

/**
 * The lines of a batch as UTF-8 bytes, written line by line into one
 * buffer: no batch-sized string to build and encode again (fresh memory is
 * what costs most here: page faults).
 */
class Lines {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  append(line: string): void {
    // At most 3 bytes of UTF-8 per UTF-16 unit: the line always fits.
    const needed = this.length + 3 * line.length;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, needed));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.length += this.buffer.write(line, this.length, 'utf8');
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class PredictionLog {
  private pending: Taken[] = [];
  /** Rows in `pending` (a request can bring several): what `maxPendingRows` bounds. */
  private pendingRows = 0;
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** The shared part of the rows of a live route, by its model reference (the same object for every request). */
  private readonly sources = new WeakMap<object, Source>();
  /** The log's folder exists (made once; again if it disappears). */
  private folderMade = false;
  /** Bytes of each endpoint's last batch: the next one's buffer starts about that big, and is not grown. */
  private readonly batchBytes = new Map<string, number>();
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
   * waits. The rows and predictions are kept as they are (not copied) until
   * the batch is written: the caller must not change them afterwards.
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
    if (kept < rows.length) this.counters.dropped(rows.length - Math.max(0, kept));
    if (kept <= 0) return;
    this.pending.push({
      ms: Date.now(),
      source: this.sourceOf(endpoint, model, role, revision),
      unitId,
      rows,
      predictions,
      kept,
    });
    this.pendingRows += kept;
    if (this.pendingRows >= this.settings.batchRows && !this.writing) void this.flush().catch(() => {});
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
   * a batch that fails to write go back to the buffer for the next flush.
   */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.pending.length === 0) return;
    const taken = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    this.writing = this.write(taken).finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  private async write(taken: Taken[]): Promise<void> {
    const byEndpoint = new Map<string, Taken[]>();
    for (const request of taken) {
      const list = byEndpoint.get(request.source.endpoint);
      if (list) list.push(request);
      else byEndpoint.set(request.source.endpoint, [request]);
    }
    const failed: Taken[] = [];
    let firstError: unknown;
    for (const [endpoint, batch] of byEndpoint) {
      try {
        const rows = await this.writeBatch(endpoint, batch);
        if (rows > 0) this.counters.logged(rows);
      } catch (error) {
        failed.push(...batch);
        firstError ??= error;
      }
    }
    if (failed.length > 0) {
      // Back in front of newer rows, within the bound: what does not fit is dropped and counted.
      let room = Math.max(0, this.settings.maxPendingRows - this.pendingRows);
      const back: Taken[] = [];
      let dropped = 0;
      for (const request of failed) {
        const kept = Math.min(room, request.kept);
        if (kept > 0) back.push(kept === request.kept ? request : { ...request, kept });
        dropped += request.kept - kept;
        room -= kept;
      }
      if (dropped > 0) this.counters.dropped(dropped);
      this.pending = [...back, ...this.pending];
      this.pendingRows += back.reduce((sum, request) => sum + request.kept, 0);
      throw firstError;
    }
  }

  /**
   * One batch of an endpoint's rows to storage, then its line in the
   * endpoint's list; the number of rows written. A row or prediction JSON
   * cannot hold (a BigInt, a cycle) is dropped and counted, not retried.
   */
  private async writeBatch(endpoint: string, batch: Taken[]): Promise<number> {
    const lines = new Lines(Math.max(64 * 1024, Math.ceil((this.batchBytes.get(endpoint) ?? 0) * 1.25)));
    const versions: Record<string, number> = {};
    let rows = 0;
    let dropped = 0;
    let lastMs = Number.NaN;
    let at = '';
    let from = '';
    let to = '';
    for (const request of batch) {
      // Answers come a few per millisecond: one ISO string per millisecond.
      if (request.ms !== lastMs) {
        lastMs = request.ms;
        at = new Date(request.ms).toISOString();
      }
      const { source, unitId } = request;
      // The members in ServedRow's order: at, endpoint, model, version, role, revision, unitId, row, prediction.
      const head = `{"at":"${at}",${source.json}${unitId === undefined ? '' : member('unitId', unitId)}`;
      let written = 0;
      for (let i = 0; i < request.kept; i++) {
        let line: string;
        try {
          line = `${head}${member('row', request.rows[i])}${member('prediction', request.predictions[i])}}\n`;
        } catch {
          dropped++;
          continue;
        }
        lines.append(line);
        written++;
      }
      if (written === 0) continue;
      if (rows === 0) from = at;
      to = at;
      rows += written;
      versions[source.version] = (versions[source.version] ?? 0) + written;
    }
    // Counted once the batch is written: a batch that fails comes back, its bad rows with it.
    if (rows === 0) {
      if (dropped > 0) this.counters.dropped(dropped);
      return 0;
    }
    const bytes = lines.bytes();
    this.batchBytes.set(endpoint, bytes.length);
    // No expected digest: a batch is new bytes (its first row's time is in it), so the store's own
    // hash of what it writes is the only one needed; a second one here cost as much again.
    const { digest, size } = await this.storage.put(bytes);
    const entry: PredictionBatch = { endpoint, digest, size, rows, from, to, versions };
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
    if (dropped > 0) this.counters.dropped(dropped);
    return rows;
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
    await this.flush();
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
