import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandStep, json, pipeline } from '@cairn/core';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueSuffix } from '../src/scratch';
import { numbers } from './fixtures/steps';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-scratch-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** The pid of a process that has exited: what a killed run leaves its scratch named after. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

describe('scratch space', () => {
  it('the next run removes what dead processes left in .cairn/tmp and artifacts/tmp, and keeps what live ones own', async () => {
    const dead = await deadPid();
    const tmp = join(dir, '.cairn', 'tmp');
    const artifactsTmp = join(dir, 'artifacts', 'tmp');
    const leftover = join(tmp, `p${dead}-train-1-0123456789ab`);
    await mkdir(join(leftover, 'work'), { recursive: true });
    await writeFile(join(leftover, 'config.json'), '{"url":"postgres://app:secret@db"}');
    await mkdir(artifactsTmp, { recursive: true });
    await writeFile(join(artifactsTmp, `p${dead}-abc-0123456789abcdef.tmp`), Buffer.alloc(1024));
    // This test's own process is alive: a concurrent run's scratch.
    const live = `p${process.pid}-evaluate-1-ba9876543210`;
    await mkdir(join(tmp, live), { recursive: true });
    await writeFile(join(artifactsTmp, `p${process.pid}-live.tmp`), 'x');

    const result = await runPipeline(numbers, {
      storage: localStore({ dir: join(dir, 'artifacts') }),
      metadata: memoryMetadata(),
      projectDir: dir,
      configs: { source: { n: 3 } },
    });
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(existsSync(leftover)).toBe(false);
    expect(await readdir(tmp)).toEqual([live]);
    expect(await readdir(artifactsTmp)).toEqual([`p${process.pid}-live.tmp`]);
  });

  it("a command step's resolved config.json is gone after success and after failure", async () => {
    const seen = join(dir, 'seen.txt');
    const make = (name: string, exit: number) =>
      pipeline(name, () => {
        commandStep({
          name: 'cmd',
          outputs: { out: json<number>() },
          command: `echo {config} > ${seen} && echo 1 > {outputs.out} && exit ${exit}`,
        })();
      });
    for (const [name, exit, status] of [
      ['ok', 0, 'succeeded'],
      ['bad', 3, 'failed'],
    ] as const) {
      const result = await runPipeline(make(name, exit), {
        storage: localStore({ dir: join(dir, 'artifacts') }),
        metadata: memoryMetadata(),
        projectDir: dir,
        noCache: true,
      });
      expect(result.status).toBe(status);
      const { readFile } = await import('node:fs/promises');
      const configPath = (await readFile(seen, 'utf8')).trim().replace(/^'|'$/g, '');
      expect(configPath.startsWith(join(dir, '.cairn', 'tmp', `p${process.pid}-cmd-1-`))).toBe(true);
      expect(existsSync(configPath)).toBe(false);
    }
  });
});

describe('uniqueSuffix', () => {
  it('never repeats within a process and is safe in a file name', () => {
    const suffixes = Array.from({ length: 20_000 }, () => uniqueSuffix());
    expect(new Set(suffixes).size).toBe(suffixes.length);
    for (const suffix of [suffixes[0]!, suffixes.at(-1)!]) expect(suffix).toMatch(/^[0-9a-f]{12}[0-9a-z]+$/);
  });

  it('differs between processes (the pid in the prefix can be reused)', async () => {
    const other = async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=@cairn/source',
          '-e',
          "import('./src/scratch.ts').then((m) => process.stdout.write(m.uniqueSuffix()))",
        ],
        { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      await new Promise((resolve) => child.on('close', resolve));
      return out;
    };
    const [a, b] = await Promise.all([other(), other()]);
    expect(a).toMatch(/^[0-9a-f]{12}0$/);
    expect(b).toMatch(/^[0-9a-f]{12}0$/);
    expect(a).not.toBe(b);
  });
});
