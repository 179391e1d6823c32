/**
 * Step logs, kept. What a step logs through `ctx.log` and what a command
 * step prints on stdout and stderr reach the orchestrator as `step.log`
 * events; the orchestrator also keeps them per execution, scrubbed of the
 * run's secrets and bounded (the tail is kept, the head is counted as
 * dropped), in one file per execution under the project's state folder:
 * `<stateDir>/logs/<runId>/<executionId>.jsonl`.
 *
 * Why a file keyed by execution id and not an object in artifact storage:
 * storage is content-addressed, so a log object could only be found again
 * through a digest recorded on the execution, which the metadata contract has
 * no field for; a log is also not an artifact (nothing reads it as an input,
 * it has no place in lineage or the cache). The file is written where the run
 * is driven, whatever executor ran the step (worker threads and remote
 * workers send their lines back), and read by `cairn logs` and the dashboard
 * of that project.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, ErrorCodes, type StepLogLine } from '@cairn/core';
import { uniqueSuffix } from '../scratch';

/** A stored step log keeps at most this many bytes of lines by default (the newest). */
export const STEP_LOG_LIMIT_BYTES = 1024 * 1024;

/** One kept line. */
export interface StepLogEntry {
  at: string;
  level: StepLogLine['level'];
  message: string;
  fields?: Record<string, unknown>;
  /** The attempt that logged it (1 + retries used so far). */
  attempt: number;
}

/** An execution's stored log. */
export interface StepLog {
  runId: string;
  executionId: string;
  step: string;
  /** The newest lines, oldest first. */
  lines: StepLogEntry[];
  /** Lines dropped from the head to stay under `limitBytes`. */
  droppedLines: number;
  /** Bytes of those dropped lines. */
  droppedBytes: number;
  /** The bound this log was kept under. */
  limitBytes: number;
}

/** Stored ids name files: only the shapes `newId` makes (a letter, `_`, letters and digits) are accepted. */
const ID = /^[a-z]_[0-9a-z]{4,64}$/i;

/** Collects an execution's lines, keeping the newest `limitBytes` of them. */
export class StepLogBuffer {
  private readonly lines: Array<{ entry: StepLogEntry; bytes: number }> = [];
  private head = 0;
  private bytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;

  constructor(readonly limitBytes: number = STEP_LOG_LIMIT_BYTES) {}

  add(entry: StepLogEntry): void {
    if (this.limitBytes <= 0) return;
    let kept = entry;
    let size = Buffer.byteLength(JSON.stringify(kept)) + 1;
    if (size > this.limitBytes) {
      // One line larger than the whole bound keeps its end, like the log does.
      const room = Math.max(16, Math.floor(this.limitBytes / 2));
      const { fields: _dropped, ...rest } = entry;
      kept = { ...rest, message: `…${entry.message.slice(-room)}` };
      this.droppedBytes += size - (Buffer.byteLength(JSON.stringify(kept)) + 1);
      size = Buffer.byteLength(JSON.stringify(kept)) + 1;
    }
    this.lines.push({ entry: kept, bytes: size });
    this.bytes += size;
    while (this.bytes > this.limitBytes && this.head < this.lines.length - 1) {
      const first = this.lines[this.head++]!;
      this.bytes -= first.bytes;
      this.droppedLines++;
      this.droppedBytes += first.bytes;
    }
    // Compact now and then, so a chatty step does not keep every line it ever wrote reachable.
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines.splice(0, this.head);
      this.head = 0;
    }
  }

  /** True when nothing was logged. */
  get empty(): boolean {
    return this.lines.length - this.head === 0 && this.droppedLines === 0;
  }

  toLog(ids: { runId: string; executionId: string; step: string }): StepLog {
    return {
      ...ids,
      lines: this.lines.slice(this.head).map((l) => l.entry),
      droppedLines: this.droppedLines,
      droppedBytes: this.droppedBytes,
      limitBytes: this.limitBytes,
    };
  }
}

/** Where an execution's log is stored. */
export function stepLogPath(stateDir: string, runId: string, executionId: string): string {
  if (!ID.test(runId) || !ID.test(executionId))
    throw new CairnError(
      ErrorCodes.USAGE,
      `Malformed run or execution id "${runId}/${executionId}" for a step log`,
      { hint: 'Run ids look like r_0mwyul89y00008cfa59e5, execution ids like e_0mwyul89y00018cfa59e5.' },
    );
  return join(stateDir, 'logs', runId, `${executionId}.jsonl`);
}

/**
 * Store a log: a header line, then one JSON line per entry. Written to a
 * temporary file and renamed, so a reader sees the whole log or none.
 */
export async function writeStepLog(stateDir: string, log: StepLog): Promise<string> {
  const file = stepLogPath(stateDir, log.runId, log.executionId);
  const dir = join(stateDir, 'logs', log.runId);
  await mkdir(dir, { recursive: true });
  const { lines, ...header } = log;
  const body = [JSON.stringify({ cairnStepLog: 1, ...header }), ...lines.map((l) => JSON.stringify(l))]
    .join('\n')
    .concat('\n');
  const temporary = join(dir, `.${log.executionId}.${uniqueSuffix()}.tmp`);
  try {
    await writeFile(temporary, body, { mode: 0o600 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return file;
}

/** An execution's stored log, or `undefined` when none was kept (it logged nothing, or ran elsewhere). */
export async function readStepLog(
  stateDir: string,
  runId: string,
  executionId: string,
): Promise<StepLog | undefined> {
  const file = stepLogPath(stateDir, runId, executionId);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const [first, ...rest] = text.split('\n').filter((line) => line !== '');
  let header: Omit<StepLog, 'lines'> & { cairnStepLog?: number };
  try {
    header = JSON.parse(first ?? '');
  } catch {
    header = {} as typeof header;
  }
  if (header.cairnStepLog !== 1)
    throw new CairnError(ErrorCodes.ARTIFACT_CORRUPT, `${file} is not a readable Cairn step log`, {
      hint: 'Step logs are written by runs; remove the file and run the step again to get a new one.',
    });
  const lines: StepLogEntry[] = [];
  for (const line of rest) {
    try {
      lines.push(JSON.parse(line) as StepLogEntry);
    } catch {
      // A line cut by a full disk is not worth losing the rest for.
    }
  }
  const { cairnStepLog: _version, ...ids } = header;
  return { ...ids, lines };
}
