import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cairn, DEV_ENTRY } from '../helpers';
import { safetyProject } from './project';

/** A process that exists and is not a zombie (an orphan killed but not yet reaped by init). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}

/** `cairn run sleepy` in the background, and the pid its command step writes once it runs. */
function startRun(dir: string): {
  child: ChildProcess;
  exited: Promise<number | null>;
  sleeper: () => Promise<number>;
  /** What the run printed so far. */
  output: () => string;
} {
  const child = spawn(process.execPath, [DEV_ENTRY, 'run', 'sleepy'], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let printed = '';
  child.stdout?.on('data', (chunk) => {
    printed += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const pidFile = join(dir, 'sleeper.pid');
  const sleeper = async () => {
    await until(
      () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '',
      'the command step started',
    );
    return Number(readFileSync(pidFile, 'utf8'));
  };
  return { child, exited, sleeper, output: () => printed };
}

const spawned: number[] = [];
afterEach(() => {
  for (const pid of spawned.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('cairn run and signals, with a running command step', () => {
  it('SIGTERM cancels like Ctrl-C: the run ends cancelled and the command step dies with it', async () => {
    const dir = await safetyProject('sigterm');
    const run = startRun(dir);
    const sleeper = await run.sleeper();
    spawned.push(sleeper);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(1);
    await until(() => !alive(sleeper), 'the command step ended');
    const runs = await cairn(['runs', '--json'], dir);
    expect((JSON.parse(runs.stdout) as { status: string }[]).map((r) => r.status)).toEqual(['cancelled']);
  });

  it('a second signal quits at once, but the run is recorded cancelled, not left running', async () => {
    // CI cancellation sends SIGINT, then SIGTERM.
    const dir = await safetyProject('twice');
    // A command that ignores SIGTERM: the first signal's cancellation waits for it (its grace period),
    // so the second one comes while the run is still stopping.
    const sleepy = join(dir, 'pipelines', 'sleepy.ts');
    await writeFile(
      sleepy,
      (await readFile(sleepy, 'utf8')).replace("'if [ -f started ]", '\'trap "" TERM; if [ -f started ]'),
    );
    const run = startRun(dir);
    const sleeper = await run.sleeper();
    spawned.push(sleeper);
    run.child.kill('SIGINT');
    // The second signal once the first is taken (two sent at once may be taken in either order).
    await until(() => run.output().includes('Cancelling'), 'the first signal was taken');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    const runs = await cairn(['runs', '--json'], dir);
    const [recorded] = JSON.parse(runs.stdout) as { status: string; error?: string }[];
    expect(recorded?.status).toBe('cancelled');
    expect(recorded?.error).toMatch(/SIGTERM again/);
  });

  it('after SIGKILL, the next run ends the orphaned command step before running it again', async () => {
    const dir = await safetyProject('sigkill');
    const first = startRun(dir);
    const sleeper = await first.sleeper();
    spawned.push(sleeper);
    first.child.kill('SIGKILL');
    await first.exited;
    // The command runs in its own process group: it outlives the killed run.
    expect(alive(sleeper)).toBe(true);
    const resumed = await cairn(['run', 'sleepy'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(alive(sleeper)).toBe(false);
  });
});
