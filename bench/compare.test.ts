/** bench/compare.mjs: figures against their own run's floor, and what it marks as worse. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const exec = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bench-compare-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const median = (value: number) => ({ median: value, min: value, max: value, n: 1 });
/** A run whose machine is `speed` times slower, with the store `store` times its floor and the server at `share` of its floor's req/s. */
const run = (speed: number, store: number, share: number) => ({
  machine: { commit: `c${speed}` },
  startedAt: 'now',
  benchmarks: {
    artifacts: {
      name: 'artifacts',
      figures: [
        { id: 'sha256sum', label: 'sha256sum (floor)', unit: 'ms', stats: median(100 * speed) },
        { id: 'store', label: 'localStore put', unit: 'ms', stats: median(100 * speed * store) },
      ],
    },
    serving: {
      name: 'serving',
      figures: [
        {
          id: 'floor-c1',
          label: 'bare node:http (floor), concurrency 1',
          concurrency: 1,
          unit: 'req/s',
          stats: median(10_000 / speed),
        },
        {
          id: 'primary-c1',
          label: 'Cairn, plain primary, concurrency 1',
          concurrency: 1,
          unit: 'req/s',
          stats: median((10_000 / speed) * share),
        },
      ],
    },
    scale: { name: 'scale', figures: [{ id: 'rss', label: 'peak RSS', unit: 'MiB', stats: median(160) }] },
  },
});

async function compare(before: object, after: object): Promise<string[]> {
  await writeFile(join(dir, 'before.json'), JSON.stringify(before));
  await writeFile(join(dir, 'after.json'), JSON.stringify(after));
  const { stdout } = await exec(process.execPath, [
    join(import.meta.dirname, 'compare.mjs'),
    join(dir, 'before.json'),
    join(dir, 'after.json'),
  ]);
  return stdout.split('\n');
}

const row = (lines: string[], label: string) => lines.find((line) => line.includes(`| ${label} |`)) ?? '';

it('puts a figure against its own run floor: a machine twice as slow changes no verdict', async () => {
  const lines = await compare(run(1, 2, 0.8), run(2, 2, 0.8));
  expect(row(lines, 'localStore put')).toContain('| 2 | 2 | 1×');
  expect(row(lines, 'Cairn, plain primary, concurrency 1')).toContain('| 1×');
  // The floors moved (the machine), and are not marked.
  expect(row(lines, 'sha256sum (floor)')).not.toContain('worse');
  expect(lines.join('\n')).toContain('0 worse by more than 1.15×');
});

it('marks a slower store and a server that lost throughput, not a change within the margin', async () => {
  const lines = await compare(run(1, 2, 0.8), run(1, 3, 0.5));
  expect(row(lines, 'localStore put')).toContain('1.5× **worse**');
  // 0.8 → 0.5 of the floor's req/s: 1.6 times the cost per request.
  expect(row(lines, 'Cairn, plain primary, concurrency 1')).toContain('1.6× **worse**');
  const within = await compare(run(1, 2, 0.8), run(1, 2.2, 0.8));
  expect(row(within, 'localStore put')).not.toContain('worse');
});

it('does not compare a row whose benchmark now runs a different number of steps', async () => {
  const before = run(1, 2, 0.8);
  const after = run(1, 4, 0.8);
  (before.benchmarks.artifacts.figures[1] as Record<string, unknown>).executed = 55;
  (after.benchmarks.artifacts.figures[1] as Record<string, unknown>).executed = 10;
  const lines = await compare(before, after);
  expect(row(lines, 'localStore put')).toContain('not comparable: ran 55 steps, now 10');
  expect(row(lines, 'localStore put')).not.toContain('worse');
});

it('refuses a wrong number of files or a margin that is no margin, with exit 2', async () => {
  await expect(
    exec(process.execPath, [join(import.meta.dirname, 'compare.mjs'), 'one.json']),
  ).rejects.toMatchObject({
    code: 2,
  });
  await expect(
    exec(process.execPath, [join(import.meta.dirname, 'compare.mjs'), 'a.json', 'b.json', '--over', '0.9']),
  ).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--over') });
});

it('names a missing or malformed results file in one line and exits 2', async () => {
  const script = join(import.meta.dirname, 'compare.mjs');
  await writeFile(join(dir, 'after.json'), JSON.stringify(run(1, 2, 0.8)));
  await writeFile(join(dir, 'broken.json'), '{"benchmarks": ');
  await writeFile(join(dir, 'other.json'), '{"name": "x"}');
  for (const [input, message] of [
    [join(dir, 'absent.json'), `compare: cannot read ${join(dir, 'absent.json')}: ENOENT`],
    [join(dir, 'broken.json'), `compare: ${join(dir, 'broken.json')} is not JSON:`],
    [join(dir, 'other.json'), `compare: ${join(dir, 'other.json')} holds no "benchmarks"`],
  ]) {
    const failed = await exec(process.execPath, [script, input!, join(dir, 'after.json')]).then(
      () => undefined,
      (error) => error,
    );
    expect(failed?.code, input).toBe(2);
    expect(failed.stderr.trim().split('\n'), input).toHaveLength(1);
    expect(failed.stderr).toContain(message);
  }
});
