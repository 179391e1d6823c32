import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./fixtures/worker-child.ts', import.meta.url));

/** A queue name no other test (or earlier run) uses. */
export const uniqueQueue = (label: string) => `test-${label}-${randomBytes(4).toString('hex')}`;

export interface WorkerEvent {
  type: string;
  pid: number;
  step?: string;
  status?: string;
  message?: string;
  error?: { code?: string; message: string };
  [key: string]: unknown;
}

/** A worker child process and the events it printed. */
export interface ChildWorker {
  pid: number;
  process: ChildProcess;
  events: WorkerEvent[];
  stderr(): string;
  /** Resolves with the first event matching, failing after `timeoutMs`. */
  waitFor(match: (event: WorkerEvent) => boolean, timeoutMs?: number): Promise<WorkerEvent>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(): Promise<number | string>;
}

export interface ChildWorkerOptions {
  url: string;
  queue: string;
  concurrency?: number;
  lockMs?: number;
  stalledMs?: number;
  projectDir?: string;
}

/** Start a worker child (`node --conditions=@cairn/source --import tsx`) and wait until it is ready. */
export async function startChildWorker(options: ChildWorkerOptions): Promise<ChildWorker> {
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      WORKER_REDIS_URL: options.url,
      WORKER_QUEUE: options.queue,
      WORKER_CONCURRENCY: String(options.concurrency ?? 1),
      ...(options.lockMs ? { WORKER_LOCK_MS: String(options.lockMs) } : {}),
      ...(options.stalledMs ? { WORKER_STALLED_MS: String(options.stalledMs) } : {}),
      ...(options.projectDir ? { WORKER_PROJECT_DIR: options.projectDir } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: WorkerEvent[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      try {
        events.push(JSON.parse(line));
      } catch {
        stderr += `${line}\n`;
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const wake of waiters.splice(0)) wake();
    }),
  );
  let exitCode: number | string | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  const waitFor = (match: (event: WorkerEvent) => boolean, timeoutMs = 20_000) =>
    new Promise<WorkerEvent>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`worker ${child.pid}: no matching event within ${timeoutMs} ms; stderr:\n${stderr}`),
          ),
        timeoutMs,
      );
      const check = () => {
        const found = events.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (exitCode !== undefined) {
          clearTimeout(timer);
          reject(new Error(`worker ${child.pid} exited (${exitCode}) before the event; stderr:\n${stderr}`));
        } else waiters.push(check);
      };
      check();
    });
  const worker: ChildWorker = {
    pid: child.pid!,
    process: child,
    events,
    stderr: () => stderr,
    waitFor,
    exited,
    stop: async () => {
      if (exitCode === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
  await waitFor((e) => e.type === 'ready', 30_000);
  return worker;
}
