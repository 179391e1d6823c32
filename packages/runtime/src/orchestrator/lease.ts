/**
 * Abandoned runs, judged by any process on any host. A running run holds a
 * lease in the metadata store and renews it every few seconds; a run whose
 * lease has expired lost its process (killed, host gone), and whoever opens
 * the project next marks it failed. On the run's own host a dead PID says
 * the same at once, without waiting for the lease.
 */
import { hostname } from 'node:os';
import { CairnError, ErrorCodes, type MetadataStore, type RunRecord } from '@cairn/core';

/** How a run keeps its lease. */
export interface LeaseOptions {
  /** How often the run renews its lease. @default 10_000 */
  renewMs?: number;
  /**
   * How long a lease lasts without renewal; after it, other processes judge
   * the run abandoned. Keep it well above `renewMs` and above any pause of
   * the driving process (a step blocking its event loop, a suspended VM),
   * and above the clock skew between hosts.
   * @default 60_000
   */
  durationMs?: number;
}

export const DEFAULT_LEASE = { renewMs: 10_000, durationMs: 60_000 } as const;

/** Runs this process drives: it never judges them, whatever their PID says. */
const driven = new Set<string>();

/** Validated lease timings; bad ones are a coded error before anything is recorded. */
export function leaseTimings(options: LeaseOptions = {}): Required<LeaseOptions> {
  const timings = { ...DEFAULT_LEASE, ...options };
  for (const [name, value] of Object.entries(timings)) {
    if (!Number.isInteger(value) || value < 1 || value > 2_147_483_647)
      throw new CairnError(
        ErrorCodes.CONFIG_INVALID,
        `lease.${name} must be a positive integer of milliseconds, got ${value}`,
      );
  }
  if (timings.durationMs <= timings.renewMs)
    throw new CairnError(
      ErrorCodes.CONFIG_INVALID,
      `lease.durationMs (${timings.durationMs}) must be longer than lease.renewMs (${timings.renewMs})`,
      { hint: 'A lease that lapses before its renewal makes a live run look abandoned.' },
    );
  return timings;
}

/** A fresh lease from now. */
export function newLease(timings: Required<LeaseOptions>): NonNullable<RunRecord['lease']> {
  const now = Date.now();
  return {
    heartbeatAt: new Date(now).toISOString(),
    expiresAt: new Date(now + timings.durationMs).toISOString(),
  };
}

/**
 * Renew the lease of `runId` every `renewMs` until `stop()`. The timer is
 * unref'd (it never keeps the process alive) and one renewal is in flight at
 * most. A failed renewal is retried at the next tick: a store that is down
 * for less than the lease costs nothing. When the store says the run is no
 * longer running (another process judged it abandoned), renewing stops; the
 * run still records how it ends.
 */
export function holdLease(
  metadata: MetadataStore,
  runId: string,
  timings: Required<LeaseOptions>,
): { stop(): Promise<void> } {
  driven.add(runId);
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const timer = setInterval(() => {
    if (inFlight || stopped) return;
    inFlight = metadata
      .heartbeat(runId, newLease(timings))
      .then(
        (held) => {
          if (!held) clearInterval(timer);
        },
        () => {},
      )
      .finally(() => {
        inFlight = undefined;
      });
  }, timings.renewMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      driven.delete(runId);
    },
  };
}

/**
 * Mark `running` runs whose process is gone as failed, with the reason: on
 * this host, a recorded PID that no longer exists; on any host, a lease that
 * expired. The store checks and writes each one atomically, so a run that
 * renewed its lease meanwhile is left alone. Runs recorded before leases
 * existed are judged by their PID only. Returns the ids it marked.
 */
export async function markAbandonedRuns(
  metadata: MetadataStore,
  options: { now?: Date } = {},
): Promise<string[]> {
  const here = hostname();
  const now = (options.now ?? new Date()).toISOString();
  const marked: string[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await metadata.listRuns({ status: 'running', limit: 100, ...(before ? { before } : {}) });
    for (const run of page) {
      if (driven.has(run.id)) continue;
      const where = run.host ? `process ${run.host.pid} on ${run.host.hostname}` : 'its process';
      // Another copy of the runtime in this process may drive a run with our PID: only the lease can tell.
      const pidGone = run.host?.hostname === here && run.host.pid !== process.pid && !isAlive(run.host.pid);
      if (pidGone) {
        const error = `abandoned: ${where} ended without finishing the run`;
        if (await metadata.abandonRun(run.id, { finishedAt: now, error })) marked.push(run.id);
      } else if (run.lease && run.lease.expiresAt < now) {
        const error = `abandoned: no heartbeat from ${where} since ${run.lease.heartbeatAt} (its lease expired at ${run.lease.expiresAt})`;
        if (await metadata.abandonRun(run.id, { finishedAt: now, error, expiredBy: now }))
          marked.push(run.id);
      }
    }
    if (page.length < 100) return marked;
    before = page.at(-1)!.id;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
