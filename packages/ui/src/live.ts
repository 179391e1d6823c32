/**
 * Live run updates. A run's events (`cairn run --json`) stay in the process
 * that drives it; what every process shares is the metadata store, where each
 * finished step is recorded at once. So the dashboard polls the store for
 * the run and turns what is new into the same event shapes `--json` prints
 * (`step.succeeded`, `step.cached`, `step.failed`, `step.skipped`,
 * `run.finished`), which the page applies to its graph.
 */
import type { CairnEvent, ExecutionRecord, MetadataStore } from '@cairn/core';

/** Start polling; returns `stop`. The first poll reports what is already recorded. */
export function runEvents(
  metadata: MetadataStore,
  runId: string,
  pollMs: number,
  send: (event: CairnEvent) => void,
): () => void {
  const seen = new Set<string>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    if (stopped) return;
    try {
      const [run, executions] = await Promise.all([metadata.getRun(runId), metadata.listExecutions(runId)]);
      for (const execution of executions) {
        if (stopped || seen.has(execution.id)) continue;
        seen.add(execution.id);
        send(toEvent(execution));
      }
      if (!stopped && run && run.status !== 'running') {
        send({
          type: 'run.finished',
          runId,
          at: run.finishedAt ?? new Date().toISOString(),
          status: run.status,
          durationMs: run.finishedAt ? Date.parse(run.finishedAt) - Date.parse(run.startedAt) : 0,
          counts: run.counts ?? { executed: 0, cached: 0, failed: 0, skipped: 0 },
          ...(run.error ? { error: run.error } : {}),
        });
        stopped = true;
      }
    } catch {
      // A store busy with a writer answers next time.
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  };
  void poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function toEvent(e: ExecutionRecord): CairnEvent {
  const base = { runId: e.runId, at: e.finishedAt ?? e.startedAt, step: e.step };
  const durationMs = e.durationMs ?? 0;
  switch (e.status) {
    case 'succeeded':
      return { ...base, type: 'step.succeeded', durationMs, attempts: e.attempts, outputs: e.outputs };
    case 'cached':
      return { ...base, type: 'step.cached', durationMs, cachedFrom: e.cachedFrom ?? '', outputs: e.outputs };
    case 'skipped':
      return { ...base, type: 'step.skipped', reason: e.error?.message ?? 'upstream step did not succeed' };
    default:
      return {
        ...base,
        type: 'step.failed',
        durationMs,
        attempts: e.attempts,
        error: e.error ?? { message: e.status },
      };
  }
}
