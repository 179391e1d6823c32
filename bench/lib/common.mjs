/**
 * Shared helpers for the benchmarks: argument parsing, repeated timing,
 * statistics, machine description and the result file every benchmark
 * writes (`--out <file>`), which `run.mjs` gathers into results/latest.*.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(BENCH_DIR, '..');

/**
 * Parse `--out`, `--repeats`, `--sizes` and the benchmark's own options. `--help` prints the
 * benchmark's header comment (what it measures, how to run it) and its options; an unknown or
 * malformed option exits 2 with one line naming it.
 */
export function args(extra = {}) {
  const options = {
    out: { type: 'string' },
    repeats: { type: 'string' },
    sizes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
    ...extra,
  };
  let values;
  try {
    ({ values } = parseArgs({ options, allowPositionals: false }));
  } catch (error) {
    process.stderr.write(`${error.message} (see --help)\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage(process.argv[1], options)}\n`);
    process.exit(0);
  }
  return values;
}

/** The script's leading block comment, then its options. */
function usage(script, options) {
  let header = '';
  try {
    const text = readFileSync(script, 'utf8');
    header = (text.match(/\/\*\*([\s\S]*?)\*\//)?.[1] ?? '')
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
      .join('\n')
      .trim();
  } catch {}
  const flags = Object.entries(options).map(
    ([name, spec]) => `  --${name}${spec.type === 'string' ? ' <value>' : ''}`,
  );
  return `${header}\n\nOptions:\n${flags.join('\n')}`;
}

/** `"10,100"` → `[10, 100]`; rejects anything that is not a positive integer. */
export function parseSizes(text, fallback) {
  if (!text) return fallback;
  return text.split(',').map((part) => {
    const n = Number(part.replaceAll('_', ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--sizes: "${part}" is not a positive integer`);
    return n;
  });
}

export function parseRepeats(text, fallback) {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--repeats: "${text}" is not a positive integer`);
  return n;
}

/** Median, min and max of samples (the median of an even count is the mean of the middle two). */
export function stats(samples) {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0, samples };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    median: round(median),
    min: round(sorted[0]),
    max: round(sorted[sorted.length - 1]),
    n: samples.length,
    samples: samples.map(round),
  };
}

export function round(value, digits = 4) {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Time one async call in milliseconds. */
export async function timed(fn) {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

export function machine() {
  const list = cpus();
  let commit;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_DIR,
      encoding: 'utf8',
    }).trim();
  } catch {}
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiB: round(freemem() / 2 ** 30, 1),
    ...(commit ? { commit } : {}),
  };
}

export async function tempDir(prefix) {
  return mkdtemp(join(tmpdir(), `cairn-bench-${prefix}-`));
}

export async function removeDir(path) {
  await rm(path, { recursive: true, force: true });
}

/**
 * The shape every benchmark produces.
 * - figures: `{ id, label, unit, stats, floor?, ratio?, overheadPerStepMs? }`
 * - targets: `{ id, label, target, value, unit, pass }` (`pass: null` when not measured)
 */
export function result(name, title) {
  return { name, title, figures: [], targets: [], notes: [], unavailable: [] };
}

/** Write the result atomically to `--out`, or print it when there is none. */
export async function finish(res, out) {
  res.finishedAt = new Date().toISOString();
  const text = `${JSON.stringify(res, null, 2)}\n`;
  if (!out) {
    process.stdout.write(summaryText(res));
    return;
  }
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, out);
  process.stdout.write(summaryText(res));
}

const signed = (value) => (value >= 0 ? `+${value}` : String(value));

function summaryText(res) {
  const lines = [`# ${res.title}`];
  for (const f of res.figures) {
    const ratio = f.ratio !== undefined ? `  ×${f.ratio} floor` : '';
    const over = f.overheadPerStepMs !== undefined ? `  +${f.overheadPerStepMs} ms/step` : '';
    const latency = f.p50 ? `  p50 ${f.p50.median} ms, p99 ${f.p99.median} ms` : '';
    const perRequest =
      f.overheadUsPerRequest !== undefined
        ? `  ${signed(f.overheadUsPerRequest)} µs/request, p50 ${signed(f.p50OverheadMs)} ms`
        : '';
    lines.push(
      `${f.label}: ${f.stats.median} ${f.unit} (min ${f.stats.min}, max ${f.stats.max})${ratio}${over}${latency}${perRequest}`,
    );
  }
  for (const t of res.targets) {
    lines.push(
      `target ${t.label}: ${t.value} ${t.unit} vs ${t.target} → ${t.pass === null ? 'n/a' : t.pass ? 'pass' : 'MISS'}`,
    );
  }
  for (const u of res.unavailable) lines.push(`not available: ${u}`);
  for (const n of res.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}

/** Run `main`, exit non-zero with the message on failure (a benchmark that cannot check itself fails). */
export function main(fn) {
  fn().catch((error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  });
}
