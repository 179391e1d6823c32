import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dev entry, run as a user would run `cairn` (no build needed). */
export const DEV_ENTRY = fileURLToPath(new URL('../bin/dev.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The training pipeline of templates/project-tabular, in order: what `cairn new` projects run. */
export const TEMPLATE_TRAINING_STEPS = [
  'ingest',
  'validate',
  'prepare',
  'train',
  'evaluate',
  'register',
  'gate',
  'loadtest',
  'deploy',
] as const;

function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _ignored, ...rest } = env;
  return rest;
}

/** Spawn `cairn <args>` in `cwd` with no terminal attached (stdin closed). */
export function cairn(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEV_ENTRY, ...args], {
      cwd,
      // NO_COLOR, and no FORCE_COLOR beside it (a CI runner's), or Node warns on stderr that one is ignored.
      env: { ...withoutForceColor(process.env), NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `cairn-cli-${prefix}-`));

/** Every file under `dir`, relative, sorted (node_modules and .git left out). */
export function listFiles(dir: string, base = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((entry) => {
      const rel = base ? `${base}/${entry.name}` : entry.name;
      if (entry.name === 'node_modules' || entry.name === '.git') return [];
      return entry.isDirectory() ? listFiles(dir, rel) : [rel];
    })
    .sort();
}

/**
 * Run `cairn <args>` on a real pseudo-terminal (util-linux `script`), so that
 * stdout is a TTY and the live renderer draws; returns the raw bytes written.
 */
export function cairnOnTerminal(args: string[], cwd: string): Promise<CliResult> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, DEV_ENTRY, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: { ...process.env, TERM: 'xterm-256color', COLUMNS: '160', LINES: '50', NO_COLOR: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * What a terminal shows after `output`: a tiny emulator of the sequences the
 * live renderer uses (cursor up `ESC[nA`, erase below `ESC[0J`, colours
 * dropped, CR LF as newline). `frames` are the screens at every erase, i.e.
 * what was on screen just before each redraw.
 */
const CSI = new RegExp(`^${String.fromCharCode(27)}\\[([0-9;?]*)([A-Za-z])`);

export function emulateTerminal(output: string): { screen: string[]; frames: string[][] } {
  const screen: string[] = [''];
  const frames: string[][] = [];
  let row = 0;
  const text = output.replaceAll('\r\n', '\n');
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\u001b' && text[i + 1] === '[') {
      const match = CSI.exec(text.slice(i));
      if (!match) continue;
      i += match[0].length - 1;
      const n = Number(match[1] || '1');
      if (match[2] === 'A') row = Math.max(0, row - n);
      else if (match[2] === 'J') {
        frames.push([...screen]);
        screen.length = row + 1;
        screen[row] = '';
      }
      continue;
    }
    if (c === '\n') {
      row++;
      if (screen.length <= row) screen.push('');
    } else if (c === '\r') {
      screen[row] = '';
    } else screen[row] += c;
  }
  // Blank lines above the first drawing, and the empty line after the last newline, are not content.
  const first = screen.findIndex((line) => line !== '');
  const last = screen.findLastIndex((line) => line !== '');
  return { screen: first < 0 ? [] : screen.slice(first, last + 1), frames };
}
