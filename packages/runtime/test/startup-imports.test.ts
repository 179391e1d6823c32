import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every process that runs a pipeline imports the runtime first, and a cached
 * run is over in a few hundred ms: builtins that only some runs need are
 * loaded where they are used, not at the top of a module. child_process
 * (which brings net and dgram) is needed only to ask git or run a command
 * step; worker_threads only by the worker pool. Made lazy together with the
 * SQLite store's direct load of its addon, they took a 10-step no-op of
 * bench/process.mjs's project from 184 to 167 ms, spawn to exit (medians of
 * 21 interleaved runs).
 *
 * Checked in the sources: the tests run them through tsx, whose own loader
 * already has these builtins loaded, so a child process cannot tell.
 */
const LAZY = ['node:child_process', 'node:worker_threads'];
/** The worker pool's thread entry runs only in worker threads, where worker_threads is the point. */
const WORKER_ONLY = new Set(['executors/worker.ts']);

const srcDir = join(__dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The modules a file imports for their values at its top (`import type` is erased). */
function valueImports(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
    if (!match[1]) found.push(match[2]!);
  }
  for (const match of text.matchAll(/^import\s+'([^']+)';/gm)) found.push(match[1]!);
  return found;
}

describe('what importing the runtime loads', () => {
  it('finds the imports it checks (the scan reads real files)', () => {
    const files = sources(srcDir);
    expect(files.length).toBeGreaterThan(20);
    const all = files.flatMap((file) => valueImports(readFileSync(file, 'utf8')));
    expect(all).toContain('node:fs');
    expect(all).toContain('@cairn/core');
  });

  it('imports neither child_process nor worker_threads at the top of a module', () => {
    const offenders = sources(srcDir).flatMap((file) => {
      const name = relative(srcDir, file).split('\\').join('/');
      if (WORKER_ONLY.has(name)) return [];
      return valueImports(readFileSync(file, 'utf8'))
        .filter((module) => LAZY.includes(module) || LAZY.includes(`node:${module}`))
        .map((module) => `${name} imports ${module}`);
    });
    expect(offenders).toEqual([]);
  });
});

describe('what running a pipeline loads', () => {
  it('never reads the performance global (its first read loads perf_hooks: about 2 ms of a process)', () => {
    // A process of its own, where the fixture watches the global from the moment the runtime is loaded.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@cairn/source', join(__dirname, 'fixtures', 'perf-free.ts')],
      { cwd: join(__dirname, '..'), encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    // Both runs happened (one executed its steps, one found them cached), and no runtime file read it.
    expect(JSON.parse(child.stdout)).toEqual({ statuses: ['succeeded', 'succeeded'], readers: [] });
  });
});
