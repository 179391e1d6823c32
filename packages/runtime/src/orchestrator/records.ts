/**
 * What a run writes to the metadata store, and the events that say so: the
 * config bundle, and one execution record per step — skipped, cached,
 * succeeded or failed — always with the event emitted after the record is
 * committed, so a reader of events never sees a step the store does not.
 *
 * Records are written behind (see RecordQueue): a step does not wait for its
 * record's commit before its dependents start, and the run waits for every
 * record before it is closed.
 */
import {
  type ArtifactRecord,
  type ArtifactRef,
  type CairnEvent,
  canonicalJson,
  type ExecutionRecord,
  type MetadataStore,
  type Pipeline,
  type RunCounts,
  type StorageDriver,
  sha256,
} from '@cairn/core';
import { newId } from './ids';
import type { PreparedRun } from './prepare';
import type { SecretScrubber } from './secrets';

/** Records queued before the queue hands them to the store: enough for one transaction. */
const BATCH_RECORDS = 256;
/** How long a queued record may wait for others: what a crash can cost (those steps re-run). */
const BATCH_DELAY_MS = 20;
/**
 * Most records queued or on their way to the store before a step that has just recorded one
 * waits (see {@link RecordQueue.room}). Steps that write small outputs can finish faster than
 * their batches' fsyncs and commits, and every waiting record holds its events and artifacts.
 */
export const MAX_WAITING_RECORDS = 1024;

/**
 * Write-behind for execution records, and the run's events in order.
 *
 * Awaiting each record's commit before a step's dependents start made a
 * 1,000-step cached rerun commit 1,000 transactions one after the other.
 * Here a record is queued and the step goes on; queued records go to the
 * store together (one transaction in SQLite) after at most
 * {@link BATCH_DELAY_MS} or {@link BATCH_RECORDS} records, and `settle()`
 * hands over the rest and waits for all of them before the run is closed.
 *
 * What stays true: a record is only handed over after its outputs are in
 * storage (the step wrote and checked them first), so a crash can lose
 * records, whose steps then run again, but never leave a record naming
 * missing outputs. Events keep their order, and an event that announces a
 * record is delivered only once that record is committed, holding back the
 * events after it: a reader of events never sees a step the store does not.
 */
/** A queued record's fate: `settled` once the store committed it (`committed`) or refused it. */
export interface RecordTicket {
  settled: boolean;
  committed: boolean;
}

export class RecordQueue {
  private queued: Array<{ execution: ExecutionRecord; artifacts: ArtifactRecord[]; ticket: RecordTicket }> =
    [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Events not delivered yet, in order, from `heldAt` on: each waits for its record's ticket and
   * holds back those after it. Delivered from the commit that settles a ticket (see `deliverHeld`),
   * not from a promise per event: every cached step of a rerun emits one.
   */
  private held: Array<{ event: CairnEvent; after: RecordTicket | undefined }> = [];
  private heldAt = 0;
  private delivering = false;
  private failure: { error: unknown } | undefined;
  /** Records queued or handed over and not yet committed (or refused). */
  private waiting = 0;
  /** Steps waiting for {@link room}, woken once `waiting` is down to half the limit. */
  private roomWaiters: Array<() => void> = [];

  constructor(
    private readonly metadata: MetadataStore,
    private readonly deliver: (event: CairnEvent) => void,
    /** Makes produced outputs durable before the records naming them are handed over (deferred fsync). */
    private readonly beforeCommit?: (digests: string[]) => Promise<void>,
  ) {}

  /** Queue a record; its ticket is settled when the store has committed it (or refused it). */
  record(execution: ExecutionRecord, artifacts: ArtifactRecord[]): RecordTicket {
    const ticket: RecordTicket = { settled: false, committed: false };
    this.queued.push({ execution, artifacts, ticket });
    this.waiting++;
    if (this.queued.length >= BATCH_RECORDS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_DELAY_MS);
    return ticket;
  }

  /**
   * Resolves at once while fewer than {@link MAX_WAITING_RECORDS} records wait for the store, and
   * otherwise once half of them are committed: the step that has just recorded one waits there, so
   * a run never gets far ahead of its commits (it held tens of MiB more at 10,000 steps).
   */
  room(): Promise<void> | undefined {
    if (this.waiting < MAX_WAITING_RECORDS) return undefined;
    // What is queued must go now, not after the timer: the steps are waiting for it.
    this.flush();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** A record was committed (or refused, `error`): settle its ticket, deliver what it held back. */
  private recorded(ticket: RecordTicket, error?: { error: unknown }): void {
    ticket.settled = true;
    ticket.committed = error === undefined;
    if (error) this.failure ??= error;
    this.waiting--;
    if (this.roomWaiters.length > 0 && this.waiting <= MAX_WAITING_RECORDS / 2) {
      for (const wake of this.roomWaiters.splice(0)) wake();
    }
    this.deliverHeld();
  }

  /** Emit an event in order; with `after`, once that record is committed (dropped if it is not). */
  emit(event: CairnEvent, after?: RecordTicket): void {
    if (!after && this.heldAt === this.held.length) {
      this.deliverSafely(event);
      return;
    }
    this.held.push({ event, after });
    this.deliverHeld();
  }

  /** Deliver the held events whose records are settled, in order, up to the first that is not. */
  private deliverHeld(): void {
    // A listener that emits (or a commit settled while delivering) is served by the loop already running.
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.heldAt < this.held.length) {
        const { event, after } = this.held[this.heldAt]!;
        if (after && !after.settled) break;
        this.heldAt++;
        if (!after || after.committed) this.deliverSafely(event);
      }
      // Delivered events are dropped in one go, not shifted one by one.
      if (this.heldAt === this.held.length) {
        this.held = [];
        this.heldAt = 0;
      }
    } finally {
      this.delivering = false;
    }
  }

  /** Hand every queued record to the store now, in one turn (one transaction where the store batches). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    const produced = batch.flatMap((item) => item.artifacts.filter((a) => a.producer).map((a) => a.digest));
    if (!this.beforeCommit || produced.length === 0) {
      this.handOver(batch);
      return;
    }
    const synced = this.beforeCommit(produced).then(
      () => this.handOver(batch),
      (error) => {
        // Outputs that may not survive a power cut are not recorded: the run fails instead.
        for (const item of batch) this.recorded(item.ticket, { error });
      },
    );
    this.inFlight.add(synced);
    void synced.finally(() => this.inFlight.delete(synced));
  }

  private handOver(batch: RecordQueue['queued']): void {
    for (const item of batch) {
      let call: Promise<void>;
      try {
        call = this.metadata.recordExecution(item.execution, item.artifacts);
      } catch (error) {
        call = Promise.reject(error);
      }
      // Leaves inFlight in its own handlers: a finally() per record cost two more promises.
      const written: Promise<void> = call.then(
        () => {
          this.inFlight.delete(written);
          this.recorded(item.ticket);
        },
        (error) => {
          this.inFlight.delete(written);
          this.recorded(item.ticket, { error });
        },
      );
      this.inFlight.add(written);
    }
  }

  /** Commit everything queued, deliver every held event; throws the first failure of a record or listener. */
  async settle(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
      // Records made meanwhile (a listener's) go now too: their events are held until they settle.
      this.flush();
    }
    this.deliverHeld();
    if (this.failure) throw this.failure.error;
  }

  private deliverSafely(event: CairnEvent): void {
    try {
      this.deliver(event);
    } catch (error) {
      // A listener that throws fails the run, as it did when events were delivered inline.
      this.failure ??= { error };
    }
  }
}

/** The state every record of one run shares. */
export interface RunRecorder {
  runId: string;
  metadata: MetadataStore;
  /** Emits an event in order, after the record it announces (when given) is committed. */
  emit: (event: CairnEvent, after?: RecordTicket) => void;
  /** The run's write-behind queue of execution records. */
  records: RecordQueue;
  /** The run's config bundle, linked to every execution as an input-side artifact. */
  bundle: ArtifactRecord;
  /** Each step's config digest. */
  configDigests: Record<string, string>;
  counts: RunCounts;
  /** Replaces resolved secrets by their references in what is recorded. */
  scrub: SecretScrubber;
  /** The first step failure in time order: the run's error. */
  firstError?: { step: string; code?: string; message: string };
}

let lastNow = { ms: Number.NaN, iso: '' };
/** The time as `toISOString()` writes it; formatted once per millisecond (a cached step takes far less). */
export const now = (): string => {
  const ms = Date.now();
  if (ms !== lastNow.ms) lastNow = { ms, iso: new Date(ms).toISOString() };
  return lastNow.iso;
};

/**
 * Every step's config in its stored form (secrets as `${env:…}`
 * references), as one json artifact per run. A file per step cost more than
 * everything else in a cold step on a slow disk; each step's digest still
 * names its config.
 */
export async function storeConfigBundle(
  pipeline: Pipeline,
  prepared: PreparedRun,
  storage: StorageDriver,
): Promise<{ bundle: ArtifactRecord; configDigests: Record<string, string> }> {
  const configDigests: Record<string, string> = {};
  const stored: Record<string, unknown> = {};
  for (const node of pipeline.nodes) {
    const config = prepared.configs.get(node.name)!;
    configDigests[node.name] = config.digest;
    stored[node.name] = config.stored;
  }
  const bytes = new TextEncoder().encode(canonicalJson(stored));
  const stat = await storage.put(bytes, { expectedDigest: sha256(bytes) });
  const bundle: ArtifactRecord = {
    digest: stat.digest,
    size: stat.size,
    type: 'json',
    createdAt: now(),
    metadata: { role: 'config-bundle', steps: pipeline.nodes.length },
  };
  return { bundle, configDigests };
}

/** A step that never ran because a producer failed or the run was cancelled. */
export async function recordSkipped(run: RunRecorder, step: string, message: string): Promise<void> {
  run.counts.skipped++;
  const committed = run.records.record(
    {
      id: newId('e'),
      runId: run.runId,
      step,
      status: 'skipped',
      cacheKey: '',
      cacheable: false,
      inputs: {},
      outputs: {},
      configDigest: run.configDigests[step]!,
      startedAt: now(),
      finishedAt: now(),
      attempts: 0,
      error: { message },
    },
    [],
  );
  run.emit({ type: 'step.skipped', runId: run.runId, at: now(), step, reason: message }, committed);
}

interface StepRecordBase {
  step: string;
  cacheKey: string;
  cacheable: boolean;
  inputs: Record<string, ArtifactRef>;
  /** Why the step executed, as events and `cairn plan` say it (`code-changed: src/x.ts`). */
  reason?: string;
}

/**
 * A step whose earlier execution was reused: queued, with its event, and its execution id returned
 * at once (no promise: every cached step of a rerun records one).
 */
export function recordCached(
  run: RunRecorder,
  base: StepRecordBase & { cachedFrom: string; outputs: Record<string, ArtifactRef>; durationMs: number },
): string {
  const executionId = newId('e');
  const at = now();
  const committed = run.records.record(
    {
      id: executionId,
      runId: run.runId,
      step: base.step,
      status: 'cached',
      cacheKey: base.cacheKey,
      cacheable: base.cacheable,
      cachedFrom: base.cachedFrom,
      inputs: base.inputs,
      outputs: base.outputs,
      configDigest: run.configDigests[base.step]!,
      startedAt: at,
      finishedAt: at,
      durationMs: 0,
      attempts: 0,
      reason: 'cached',
    },
    [run.bundle],
  );
  run.counts.cached++;
  run.emit(
    {
      type: 'step.cached',
      runId: run.runId,
      at,
      step: base.step,
      durationMs: base.durationMs,
      cachedFrom: base.cachedFrom,
      outputs: base.outputs,
    },
    committed,
  );
  return executionId;
}

/**
 * A step that ran and produced every declared output; its artifacts and lineage in one transaction.
 * Returns a promise to wait on only when too many records are behind (see `RecordQueue.room`).
 */
export function recordSucceeded(
  run: RunRecorder,
  base: StepRecordBase & {
    executionId: string;
    startedAt: string;
    durationMs: number;
    attempts: number;
    outputs: Record<string, ArtifactRef>;
    produced: Record<string, ArtifactRef & { metadata?: unknown }>;
  },
): Promise<void> | undefined {
  const finishedAt = now();
  const artifacts: ArtifactRecord[] = [run.bundle];
  for (const [output, ref] of Object.entries(base.produced)) {
    artifacts.push({
      digest: ref.digest,
      type: ref.type,
      size: ref.size,
      createdAt: finishedAt,
      producer: { runId: run.runId, step: base.step, output, executionId: base.executionId },
      ...(ref.metadata ? { metadata: ref.metadata as Record<string, unknown> } : {}),
    });
  }
  const record: ExecutionRecord = {
    id: base.executionId,
    runId: run.runId,
    step: base.step,
    status: 'succeeded',
    cacheKey: base.cacheKey,
    cacheable: base.cacheable,
    inputs: base.inputs,
    outputs: base.outputs,
    configDigest: run.configDigests[base.step]!,
    startedAt: base.startedAt,
    finishedAt,
    durationMs: base.durationMs,
    attempts: base.attempts,
    ...(base.reason ? { reason: base.reason } : {}),
  };
  const committed = run.records.record(record, artifacts);
  for (const [output, ref] of Object.entries(base.outputs)) {
    run.emit(
      {
        type: 'artifact.written',
        runId: run.runId,
        at: finishedAt,
        step: base.step,
        output,
        digest: ref.digest,
        artifactType: ref.type,
        size: ref.size,
      },
      committed,
    );
  }
  run.counts.executed++;
  run.emit(
    {
      type: 'step.succeeded',
      runId: run.runId,
      at: finishedAt,
      step: base.step,
      durationMs: base.durationMs,
      attempts: base.attempts,
      outputs: base.outputs,
    },
    committed,
  );
  // Too many records behind: the step's caller waits (on the promise returned) for the store to catch up.
  return run.records.room();
}

/** A step that failed after its last attempt, or was cancelled while running. */
export async function recordFailed(
  run: RunRecorder,
  base: StepRecordBase & {
    executionId: string;
    startedAt: string;
    durationMs: number;
    attempts: number;
    cancelled: boolean;
    error: { code?: string; message: string };
  },
): Promise<void> {
  const committed = run.records.record(
    {
      id: base.executionId,
      runId: run.runId,
      step: base.step,
      status: base.cancelled ? 'cancelled' : 'failed',
      cacheKey: base.cacheKey,
      cacheable: base.cacheable,
      inputs: base.inputs,
      outputs: {},
      configDigest: run.configDigests[base.step]!,
      startedAt: base.startedAt,
      finishedAt: now(),
      durationMs: base.durationMs,
      attempts: base.attempts,
      error: base.error,
      ...(base.reason ? { reason: base.reason } : {}),
    },
    [run.bundle],
  );
  if (!base.cancelled) {
    run.counts.failed++;
    run.firstError ??= { step: base.step, ...base.error };
  }
  run.emit(
    {
      type: 'step.failed',
      runId: run.runId,
      at: now(),
      step: base.step,
      durationMs: base.durationMs,
      attempts: base.attempts,
      error: base.error,
    },
    committed,
  );
}
