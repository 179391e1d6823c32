/**
 * Driving `cairn` the way a user does: a copy of the fixture project in a
 * temp folder, the CLI spawned from this checkout's sources, and what a run
 * left on disk read back without going through Cairn's own code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CairnEvent } from '@cairn/core';

export const DEV_ENTRY = fileURLToPath(new URL('../../../packages/cli/bin/dev.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixture', import.meta.url));
const REPO_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

/** A fresh copy of the chaos fixture project, resolving `@cairn/*` through this checkout. */
export async function chaosProject(prefix: string): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), `cairn-chaos-${prefix}-`)), 'project');
  await cp(FIXTURE, dir, { recursive: true });
  await symlink(REPO_MODULES, join(dir, 'node_modules'), 'dir');
  await writeFile(join(dir, 'package.json'), '{ "name": "chaos", "private": true, "type": "module" }\n');
  // The size of the large file artifact is the `big` step's config.
  if (process.env.CHAOS_BIG_MB)
    await writeFile(join(dir, 'conf', 'base', 'big.yaml'), `mb: ${process.env.CHAOS_BIG_MB}\n`);
  return dir;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** With `--json`: the events, one per stdout line. */
  events: CairnEvent[];
}

export interface Running {
  child: ChildProcess;
  /** Every event so far (with `--json`). */
  events: CairnEvent[];
  done: Promise<CliResult>;
}

/** Spawn `cairn <args>` in `cwd`; `onEvent` sees each `--json` event as it arrives. */
export function start(
  args: string[],
  cwd: string,
  options: { env?: NodeJS.ProcessEnv; onEvent?: (event: CairnEvent, running: Running) => void } = {},
): Running {
  const child = spawn(process.execPath, [DEV_ENTRY, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: CairnEvent[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  const running: Running = { child, events, done: undefined as unknown as Promise<CliResult> };
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout += text;
    pending += text;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
      if (!line.startsWith('{')) continue;
      try {
        const event = JSON.parse(line) as CairnEvent;
        events.push(event);
        options.onEvent?.(event, running);
      } catch {
        // not an event line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  running.done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, events }));
  });
  return running;
}

export const cairn = (args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<CliResult> =>
  start(args, cwd, { env }).done;

export interface RunRow {
  id: string;
  status: string;
  error?: string;
}

/** `cairn runs --json`, newest first. */
export async function listRuns(cwd: string, env?: NodeJS.ProcessEnv, args: string[] = []): Promise<RunRow[]> {
  const result = await cairn(['runs', '--json', '--limit', '1000', ...args], cwd, env);
  if (result.code !== 0) throw new Error(`cairn runs failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as RunRow[];
}

/** Every file under `dir`, relative, with its size and sha256 (node_modules left out). */
export function snapshot(dir: string, base = ''): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(join(dir, base))) return files;
  for (const entry of readdirSync(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${entry.name}` : entry.name;
    if (entry.name === 'node_modules') continue;
    if (entry.isDirectory()) for (const [k, v] of snapshot(dir, rel)) files.set(k, v);
    else if (entry.isFile()) {
      const bytes = readFileSync(join(dir, rel));
      files.set(rel, `${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`);
    } else files.set(rel, 'other');
  }
  return files;
}

/** The differences between two snapshots, as readable lines (empty: identical). */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [path, value] of after) {
    if (!before.has(path)) lines.push(`added ${path}`);
    else if (before.get(path) !== value) lines.push(`changed ${path}`);
  }
  for (const path of before.keys()) if (!after.has(path)) lines.push(`removed ${path}`);
  return lines;
}

/** Where the local store keeps an object. */
export const objectPath = (project: string, digest: string) =>
  join(project, '.cairn', 'artifacts', 'objects', digest.slice(0, 2), digest.slice(2));

/** The sha256 of a file's bytes, hex, as the store names objects. */
export function fileDigest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every object of a project's local store whose bytes do not hash to its name. */
export function badObjects(project: string): string[] {
  const root = join(project, '.cairn', 'artifacts', 'objects');
  if (!existsSync(root)) return [];
  const bad: string[] = [];
  for (const prefix of readdirSync(root)) {
    for (const rest of readdirSync(join(root, prefix))) {
      if (fileDigest(join(root, prefix, rest)) !== prefix + rest) bad.push(prefix + rest);
    }
  }
  return bad;
}

/** Entries left in a scratch folder (step workdirs, partial store writes). */
export function scratchEntries(project: string): string[] {
  const entries: string[] = [];
  for (const dir of [join(project, '.cairn', 'tmp'), join(project, '.cairn', 'artifacts', 'tmp')]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) entries.push(join(dir, name));
  }
  return entries;
}

/** Total bytes of the files in the scratch folders right now (0 when none). */
export function scratchBytes(project: string): number {
  let total = 0;
  const walk = (path: string) => {
    try {
      const stat = statSync(path);
      if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
      else total += stat.size;
    } catch {
      // removed while we looked
    }
  };
  for (const entry of scratchEntries(project)) walk(entry);
  return total;
}

/** A process that exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Process ids in a process group (read from /proc), zombies left out. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(name));
    } catch {
      // the process ended while we read
    }
  }
  return members;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll until `check` holds. No deadline: the suite's hang guard is the bound. */
export async function until(check: () => boolean | Promise<boolean>, everyMs = 50): Promise<void> {
  while (!(await check())) await sleep(everyMs);
}
