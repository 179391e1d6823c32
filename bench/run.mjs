#!/usr/bin/env node
/**
 * `npm run bench`: build what the benchmarks import, run every benchmark in
 * its own process, and write bench/results/latest.json and latest.md.
 *
 *   npm run bench
 *   node bench/run.mjs --only orchestration,artifacts --no-build
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, machine, REPO_DIR, round, tempDir } from './lib/common.mjs';
import { fillMetadata } from './lib/fill.mjs';
import { markdown, summary } from './lib/report.mjs';

export const BENCHMARKS = [
  'process',
  'orchestration',
  'artifacts',
  'startup',
  'scale',
  'penguins',
  'serving',
  'ui',
];

const USAGE = `npm run bench [-- options]: build what the benchmarks import, run each benchmark in its own
process, write bench/results/latest.json and latest.md, and update the README's summary.

Options:
  --only <a,b>          only these benchmarks (${BENCHMARKS.join(', ')})
  --no-build            use the packages as they are built now
  --results-dir <dir>   write the results there instead of bench/results
  --quick               every benchmark at a small size (a smoke run)

  npm run bench
  node bench/run.mjs --only orchestration,artifacts --no-build
  node bench/<name>.mjs --help   (one benchmark's own options)`;
let values;
try {
  ({ values } = parseArgs({
    options: {
      only: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'results-dir': { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  process.stderr.write(`${error.message} (see --help)\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
/** `--quick`: each benchmark at a small size, a smoke run of the whole pipeline of `npm run bench`. */
const QUICK = {
  process: ['--quick'],
  orchestration: ['--sizes', '100', '--repeats', '1'],
  artifacts: ['--mib', '16', '--repeats', '1'],
  startup: ['--sizes', '20', '--repeats', '1'],
  scale: ['--sizes', '100', '--repeats', '1', '--quick'],
  penguins: ['--repeats', '1'],
  serving: [
    '--requests',
    '500',
    '--warmup',
    '50',
    '--concurrency',
    '1',
    '--repeats',
    '1',
    '--watch-rounds',
    '2',
    '--watch-epochs',
    '2',
    '--watch-ms',
    '300',
    '--watch-warm-requests',
    '2000',
  ],
};
const only = values.only ? values.only.split(',') : BENCHMARKS;
for (const name of only)
  if (!BENCHMARKS.includes(name)) {
    process.stderr.write(`--only: unknown benchmark "${name}" (known: ${BENCHMARKS.join(', ')})\n`);
    process.exit(2);
  }
const resultsDir = values['results-dir'] ?? join(BENCH_DIR, 'results');

const started = performance.now();
const build = { core: 'skipped', cli: 'skipped', deployLocal: 'skipped', ui: 'skipped' };
if (!values['no-build']) {
  const nx = (projects) =>
    // In dependency order, each without its task dependencies: the runtime's dev dependency on
    // the testkit (which depends on the runtime) makes nx's task graph circular otherwise.
    spawnSync(
      'npx',
      [
        'nx',
        'run-many',
        '-t',
        'build',
        `--projects=${projects}`,
        '--output-style=static',
        '--parallel=1',
        '--exclude-task-dependencies',
      ],
      {
        cwd: REPO_DIR,
        stdio: 'inherit',
        env: { ...process.env, NX_DAEMON: 'false' },
      },
    ).status;
  for (const project of ['@cairn/core', '@cairn/runtime', '@cairn/metadata-sqlite']) {
    if (nx(project) !== 0) throw new Error(`building ${project} failed`);
  }
  build.core = 'built';
  // Serving imports the model server (and, through it, @cairn/stats); nx builds its dependencies first.
  build.deployLocal = ['@cairn/stats', '@cairn/deploy-local'].every((p) => nx(p) === 0)
    ? 'built'
    : 'build failed';
  // The dashboard benchmark imports @cairn/ui's dist, which serves its views and assets from the package folder,
  // reads drift reports through @cairn/tabular, and launches Chromium with @cairn/testkit's options.
  build.ui = ['@cairn/stats', '@cairn/tabular', '@cairn/testkit', '@cairn/ui'].every((p) => nx(p) === 0)
    ? 'built'
    : 'build failed';
  // The CLI may not exist yet or may not build; start-up benchmarks then say "not available".
  build.cli = ['@cairn/delivery', '@cairn/cli'].every((p) => nx(p) === 0) ? 'built' : 'build failed';
}

const scratch = await tempDir('run');
const report = { machine: machine(), startedAt: new Date().toISOString(), build, benchmarks: {} };
try {
  // Start-up, scale and the dashboard need a store with 100,000 executions: fill it once.
  const shared = {};
  if (only.includes('startup') || only.includes('scale') || only.includes('ui')) {
    const t = performance.now();
    const db = join(scratch, 'filled.db');
    const { sample } = await fillMetadata(db, { runs: values.quick ? 10 : 1000, perRun: 100 });
    await writeFile(join(scratch, 'sample.json'), JSON.stringify(sample));
    shared.startup = ['--db', db];
    shared.scale = ['--db', db, '--sample', join(scratch, 'sample.json')];
    // The dashboard benchmark adds a 1,000-step run to its own copy of the store.
    shared.ui = ['--db', db];
    report.filledStoreSeconds = round((performance.now() - t) / 1000, 1);
    process.stdout.write(`filled a store with 100,000 executions in ${report.filledStoreSeconds} s\n`);
  }
  for (const name of only) {
    const out = join(scratch, `${name}.json`);
    process.stdout.write(`\n== ${name}\n`);
    const t = performance.now();
    const child = spawnSync(
      process.execPath,
      [
        join(BENCH_DIR, `${name}.mjs`),
        '--out',
        out,
        ...(shared[name] ?? []),
        ...(values.quick && QUICK[name] ? QUICK[name] : []),
      ],
      {
        cwd: REPO_DIR,
        stdio: 'inherit',
      },
    );
    const seconds = round((performance.now() - t) / 1000, 1);
    if (child.status !== 0) {
      report.benchmarks[name] = { name, failed: `exited with ${child.status ?? child.signal}`, seconds };
      continue;
    }
    report.benchmarks[name] = { ...JSON.parse(await readFile(out, 'utf8')), seconds };
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
report.totalSeconds = round((performance.now() - started) / 1000, 1);

await mkdir(resultsDir, { recursive: true });
const write = async (file, text) => {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
};
await write(join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
await write(join(resultsDir, 'latest.md'), markdown(report));
// The README's summary is the same text from the same report, so the two cannot disagree.
if (!values['results-dir'] && !values.quick && values.only === undefined) {
  const readme = join(BENCH_DIR, 'README.md');
  const text = await readFile(readme, 'utf8');
  const start = '<!-- summary:start -->';
  const end = '<!-- summary:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    await write(
      readme,
      `${text.slice(0, from + start.length)}\n\n${summary(report).join('\n')}\n\n${text.slice(to)}`,
    );
  }
}
process.stdout.write(
  `\nwrote ${join(resultsDir, 'latest.md')} and latest.json in ${report.totalSeconds} s\n`,
);
const failed = Object.values(report.benchmarks).filter((b) => b.failed);
if (failed.length > 0) {
  process.stderr.write(`failed: ${failed.map((b) => b.name).join(', ')}\n`);
  process.exitCode = 1;
}
