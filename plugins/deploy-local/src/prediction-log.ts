/**
 * Prediction logging: a sampled share of the requests a serving deployer
 * answers, one JSON line per row (the row, its prediction, the version,
 * role and revision that answered, the unit id), written to the project's
 * storage in batches. Each batch is an immutable blob under its digest;
 * `<stateDir>/deployments/prediction-log/<endpoint>.jsonl` lists the batches
 * of an endpoint, one line per batch, appended after the blob is stored (a
 * crash in between leaves an unlisted blob, never a listed one that is
 * missing). A monitoring step reads them back with {@link servedRows}.
 *
 * JSON lines, not Arrow: the server must stay light on the request path and
 * depend on no table library, and a served row is any JSON value (an array
 * of numbers, an object of features); `@cairn/tabular` builds a table from
 * the rows when a step needs one.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CairnError,
  type ServedRow as CoreServedRow,
  ErrorCodes,
  type StorageDriver,
  sha256,
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

/** What the deployer hands over after each answered request. */
export interface AnsweredRequest {
  endpoint: string;
  model: string;
  version: number;
  role: 'primary' | 'canary';
  revision: number;
  unitId?: string;
  rows: readonly unknown[];
  predictions: readonly unknown[];
}

const logDir = (stateDir: string) => join(deploymentsDir(stateDir), 'prediction-log');
const indexFile = (stateDir: string, endpoint: string) => join(logDir(stateDir), `${endpoint}.jsonl`);

export class PredictionLog {
  private pending: ServedRow[] = [];
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

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

  /** Keep the request's rows when it is sampled; never throws, never waits. */
  offer(request: AnsweredRequest): void {
    if (this.closed || (this.settings.sample < 1 && Math.random() >= this.settings.sample)) return;
    const room = this.settings.maxPendingRows - this.pending.length;
    const kept = Math.min(room, request.rows.length);
    if (kept < request.rows.length) this.counters.dropped(request.rows.length - kept);
    const at = new Date().toISOString();
    for (let i = 0; i < kept; i++) {
      this.pending.push({
        at,
        endpoint: request.endpoint,
        model: request.model,
        version: request.version,
        role: request.role,
        revision: request.revision,
        ...(request.unitId !== undefined ? { unitId: request.unitId } : {}),
        row: request.rows[i],
        prediction: request.predictions[i],
      });
    }
    if (this.pending.length >= this.settings.batchRows && !this.writing) void this.flush().catch(() => {});
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
    this.writing = this.write(taken).finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  private async write(rows: ServedRow[]): Promise<void> {
    const byEndpoint = new Map<string, ServedRow[]>();
    for (const row of rows) {
      const list = byEndpoint.get(row.endpoint);
      if (list) list.push(row);
      else byEndpoint.set(row.endpoint, [row]);
    }
    const failed: ServedRow[] = [];
    let firstError: unknown;
    for (const [endpoint, batch] of byEndpoint) {
      try {
        await this.writeBatch(endpoint, batch);
        this.counters.logged(batch.length);
      } catch (error) {
        failed.push(...batch);
        firstError ??= error;
      }
    }
    if (failed.length > 0) {
      // Back in front of newer rows, within the bound: what does not fit is dropped and counted.
      const room = Math.max(0, this.settings.maxPendingRows - this.pending.length);
      const kept = failed.slice(0, room);
      if (failed.length > kept.length) this.counters.dropped(failed.length - kept.length);
      this.pending = [...kept, ...this.pending];
      throw firstError;
    }
  }

  private async writeBatch(endpoint: string, rows: ServedRow[]): Promise<void> {
    const bytes = new TextEncoder().encode(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
    const { digest, size } = await this.storage.put(bytes, { expectedDigest: sha256(bytes) });
    const versions: Record<string, number> = {};
    for (const row of rows) versions[row.version] = (versions[row.version] ?? 0) + 1;
    const entry: PredictionBatch = {
      endpoint,
      digest,
      size,
      rows: rows.length,
      from: rows[0]!.at,
      to: rows.at(-1)!.at,
      versions,
    };
    await mkdir(logDir(this.stateDir), { recursive: true });
    // One small O_APPEND write per batch: several serving processes can share the list.
    const handle = await open(indexFile(this.stateDir, endpoint), 'a');
    try {
      await handle.write(`${JSON.stringify(entry)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Stop taking rows and write every one waiting (what `close()` and SIGTERM in `cairn serve` run). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
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
