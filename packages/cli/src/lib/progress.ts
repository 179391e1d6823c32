/**
 * Rendering of run events: live progress on a terminal, one line per event
 * otherwise, one JSON event per line with `--json`.
 */
import type { CairnEvent, RunCounts } from '@cairn/core';
import pc from 'picocolors';
import { formatBytes, formatDuration, shortDigest } from './format';

export type StepState = 'waiting' | 'running' | 'cached' | 'done' | 'failed' | 'skipped' | 'retrying';

export interface Renderer {
  onEvent(event: CairnEvent): void;
  /** Print a line outside the live area (notices, the cancel message). */
  note(message: string): void;
  stop(): void;
}

type Write = (text: string) => void;

/** `--json`: every event exactly as the core emits it, one per line. */
export function jsonRenderer(write: Write): Renderer {
  return {
    onEvent: (event) => write(`${JSON.stringify(event)}\n`),
    note: () => {},
    stop: () => {},
  };
}

function summaryLine(
  status: string,
  runId: string,
  durationMs: number,
  counts: RunCounts | undefined,
  color = true,
): string {
  const c = counts ?? { executed: 0, cached: 0, failed: 0, skipped: 0 };
  const mark = status === 'succeeded' ? '✓' : '✗';
  const text = `${mark} run ${runId} ${status} in ${formatDuration(durationMs)}: ${c.executed} executed, ${c.cached} cached, ${c.failed} failed, ${c.skipped} skipped`;
  if (!color) return text;
  return status === 'succeeded' ? pc.green(text) : pc.red(text);
}

/** No terminal: one plain line per event, nothing redrawn. */
export function lineRenderer(write: Write): Renderer {
  const line = (s: string) => write(`${s}\n`);
  return {
    onEvent(event) {
      switch (event.type) {
        case 'run.started':
          line(
            `run ${event.runId} started: pipeline ${event.pipeline}, env ${event.env}, ${event.steps.length} steps`,
          );
          break;
        case 'step.started':
          line(
            `${event.step}: running (${event.reason}${event.detail ? `: ${event.detail}` : ''}${event.attempt > 1 ? `, attempt ${event.attempt}` : ''})`,
          );
          break;
        case 'step.cached':
          line(`${event.step}: cached (${formatDuration(event.durationMs)}, from ${event.cachedFrom})`);
          break;
        case 'step.succeeded':
          line(`${event.step}: done (${formatDuration(event.durationMs)})`);
          break;
        case 'step.failed':
          // A step stopped by the run's cancellation did not fail on its own: say what happened.
          line(
            `${event.step}: ${event.error.code === 'CAIRN_RUN_CANCELLED' ? 'cancelled' : 'failed'} (${formatDuration(event.durationMs)}): ${event.error.message}`,
          );
          break;
        case 'step.retrying':
          line(
            `${event.step}: retrying in ${formatDuration(event.delayMs)} (attempt ${event.attempt}): ${event.error.message}`,
          );
          break;
        case 'step.skipped':
          line(`${event.step}: skipped (${event.reason})`);
          break;
        case 'step.log':
          line(`  ${event.step} | ${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
          break;
        case 'artifact.written':
          line(
            `  ${event.step}.${event.output} → ${event.artifactType} ${shortDigest(event.digest)} (${formatBytes(event.size)})`,
          );
          break;
        case 'run.finished':
          line(summaryLine(event.status, event.runId, event.durationMs, event.counts, false));
          if (event.error) line(`  ${event.error}`);
          break;
      }
    },
    note: line,
    stop() {},
  };
}

const SYMBOL: Record<StepState, string> = {
  waiting: pc.dim('·'),
  running: pc.yellow('▸'),
  retrying: pc.yellow('↻'),
  cached: pc.cyan('≡'),
  done: pc.green('✓'),
  failed: pc.red('✗'),
  skipped: pc.dim('-'),
};

interface Row {
  state: StepState;
  startedAt?: number;
  durationMs?: number;
  detail?: string;
}

/**
 * A terminal: one row per step (state, duration), redrawn in place every
 * 100 ms; logs and notices scroll above the block; a summary line at the end.
 */
export function liveRenderer(write: Write): Renderer {
  const rows = new Map<string, Row>();
  let drawn = 0;
  let header = '';
  let finished: string | undefined;
  const clear = () => {
    if (drawn > 0) write(`\u001b[${drawn}A\u001b[0J`);
    drawn = 0;
  };
  const draw = () => {
    const lines: string[] = [];
    if (header) lines.push(header);
    const width = Math.max(0, ...[...rows.keys()].map((k) => k.length));
    for (const [name, row] of rows) {
      const duration =
        row.state === 'running' && row.startedAt !== undefined
          ? formatDuration(Date.now() - row.startedAt)
          : row.durationMs !== undefined
            ? formatDuration(row.durationMs)
            : '';
      const state = row.state.padEnd(8);
      lines.push(
        `  ${SYMBOL[row.state]} ${name.padEnd(width)}  ${state} ${pc.dim(duration.padStart(7))}${row.detail ? pc.dim(`  ${row.detail}`) : ''}`,
      );
    }
    if (finished) lines.push(finished);
    write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const redraw = () => {
    clear();
    draw();
  };
  const timer = setInterval(redraw, 100);
  timer.unref();
  const set = (step: string, patch: Row) => rows.set(step, { ...rows.get(step), ...patch });

  return {
    onEvent(event) {
      switch (event.type) {
        case 'run.started':
          header = `${pc.bold(event.pipeline)} ${pc.dim(`run ${event.runId} · env ${event.env}`)}`;
          for (const step of event.steps) rows.set(step, { state: 'waiting' });
          break;
        case 'step.started':
          set(event.step, {
            state: 'running',
            startedAt: Date.now(),
            detail: event.detail ? `${event.reason}: ${event.detail}` : event.reason,
          });
          break;
        case 'step.cached':
          set(event.step, { state: 'cached', durationMs: event.durationMs, detail: '' });
          break;
        case 'step.succeeded':
          set(event.step, { state: 'done', durationMs: event.durationMs, detail: '' });
          break;
        case 'step.failed':
          set(event.step, {
            state: 'failed',
            durationMs: event.durationMs,
            detail: event.error.message.split('\n')[0],
          });
          break;
        case 'step.retrying':
          set(event.step, {
            state: 'retrying',
            detail: `attempt ${event.attempt}: ${event.error.message.split('\n')[0]}`,
          });
          break;
        case 'step.skipped':
          set(event.step, { state: 'skipped', detail: event.reason });
          break;
        case 'step.log':
          clear();
          write(`${pc.dim(`${event.step} |`)} ${event.message}\n`);
          break;
        case 'artifact.written':
          break;
        case 'run.finished':
          finished = summaryLine(event.status, event.runId, event.durationMs, event.counts);
          if (event.error) finished += `\n  ${event.error}`;
          break;
      }
      redraw();
    },
    note(message) {
      clear();
      write(`${message}\n`);
      draw();
    },
    stop() {
      clearInterval(timer);
      redraw();
    },
  };
}
