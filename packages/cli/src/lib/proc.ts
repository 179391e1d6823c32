/** Child processes the scaffolder and `cairn add` run: npm and git, with progress. */
import { spawn } from 'node:child_process';

export interface ProcResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program, collecting its output; `onLine` sees each output line as it comes. */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void },
): Promise<ProcResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const feed = (chunk: Buffer, sink: 'out' | 'err') => {
      const text = chunk.toString('utf8');
      if (sink === 'out') stdout += text;
      else stderr += text;
      if (options.onLine) for (const line of text.split('\n')) if (line.trim()) options.onLine(line.trim());
    };
    child.stdout.on('data', (c: Buffer) => feed(c, 'out'));
    child.stderr.on('data', (c: Buffer) => feed(c, 'err'));
    child.on('error', (error) => resolvePromise({ code: 127, stdout, stderr: stderr + String(error) }));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * A progress indicator: a spinner with the latest line on a terminal, plain
 * start/end lines otherwise.
 */
export function progress(label: string, write: (s: string) => void, tty: boolean) {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  let last = '';
  const started = Date.now();
  const width = Math.max(20, (process.stdout.columns ?? 80) - label.length - 8);
  const timer = tty
    ? setInterval(() => {
        i = (i + 1) % frames.length;
        write(`\r\u001b[2K${frames[i]} ${label} ${last.slice(0, width)}`);
      }, 80)
    : undefined;
  if (!tty) write(`${label}…\n`);
  return {
    update(line: string) {
      last = line;
    },
    done(message: string) {
      if (timer) clearInterval(timer);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      write(`${tty ? '\r\u001b[2K' : ''}${message} (${seconds}s)\n`);
    },
  };
}

/** `npm` with the right executable name on every platform. */
export const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
