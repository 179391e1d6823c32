#!/usr/bin/env node
/**
 * Real pipeline: the penguins example end to end through the built CLI
 * (`cairn run`), cold and then fully cached, in a scratch copy of the example
 * (so the example's own .cairn state is never touched). Reported "not
 * available" until the example and the CLI exist.
 *
 *   node bench/penguins.mjs --repeats 2
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import {
  args,
  BENCH_DIR,
  finish,
  main,
  parseRepeats,
  REPO_DIR,
  removeDir,
  result,
  round,
  stats,
  timed,
} from './lib/common.mjs';
import { CLI_BIN } from './startup.mjs';

const exec = promisify(execFile);
const EXAMPLE = join(REPO_DIR, 'examples', 'penguins');
const CONFIGS = ['cairn.config.ts', 'cairn.config.mts', 'cairn.config.js', 'cairn.config.mjs'];

export async function penguins(options) {
  const repeats = parseRepeats(options.repeats, 2);
  const res = result('penguins', 'Real pipeline: examples/penguins');
  const labels = ['penguins cold run', 'penguins cached rerun'];
  // The training pipeline's load test replays rows at the candidate for a fixed time (its config's
  // `duration`): time the run spends by design, not overhead. Reported apart, and taken out of a
  // second cold figure, so the cold run compares with runs from before the step existed.
  const LOAD_TEST = 'loadtest';
  if (!CONFIGS.some((name) => existsSync(join(EXAMPLE, name)))) {
    for (const l of labels) res.unavailable.push(`${l}: examples/penguins has no cairn config yet`);
    return res;
  }
  if (!existsSync(join(REPO_DIR, 'packages', 'cli', 'dist', 'commands.js'))) {
    for (const l of labels) res.unavailable.push(`${l}: the CLI is not built`);
    return res;
  }
  const cold = [];
  const cached = [];
  const loadTest = [];
  try {
    for (let r = 0; r < repeats; r++) {
      // Inside the repository, so that the copy resolves @cairn/* from the root node_modules.
      const dir = join(BENCH_DIR, '.work', `penguins-${process.pid}-${r}`);
      await cp(EXAMPLE, dir, {
        recursive: true,
        filter: (src) => !['.cairn', 'node_modules', 'dist'].includes(basename(src)),
      });
      try {
        const runOnce = () =>
          exec(process.execPath, [CLI_BIN, 'run', '--json'], { cwd: dir, maxBuffer: 64 << 20 });
        const first = await timed(runOnce);
        cold.push(first.ms);
        loadTest.push(stepMs(first.value.stdout, LOAD_TEST));
        cached.push((await timed(runOnce)).ms);
      } finally {
        await removeDir(dir);
      }
    }
  } catch (error) {
    for (const l of labels)
      res.unavailable.push(
        `${l}: \`cairn run\` fails: ${String(error.stderr || error.message).split('\n')[0]}`,
      );
    return res;
  }
  const c = stats(cold);
  const k = stats(cached);
  res.figures.push({ id: 'cold', label: labels[0], unit: 'ms', stats: c });
  if (loadTest.every((ms) => ms !== undefined)) {
    res.figures.push({
      id: 'cold-load-test',
      label: `the ${LOAD_TEST} step of that run (a timed replay, by design)`,
      unit: 'ms',
      stats: stats(loadTest),
    });
    res.figures.push({
      id: 'cold-without-load-test',
      label: `penguins cold run less its ${LOAD_TEST} step`,
      unit: 'ms',
      stats: stats(cold.map((ms, i) => ms - loadTest[i])),
    });
  } else {
    res.unavailable.push(`the ${LOAD_TEST} step's time: the cold run reported no ${LOAD_TEST} step`);
  }
  res.figures.push({
    id: 'cached',
    label: labels[1],
    unit: 'ms',
    stats: k,
    floor: c,
    floorLabel: 'cold run',
    ratio: round(k.median / c.median, 2),
  });
  res.notes.push(
    'No hand-written floor exists for the real pipeline; the cached rerun is compared with the cold run.',
  );
  return res;
}

/** How long a step of a `cairn run --json` took, from its step.succeeded event (undefined when none). */
function stepMs(stdout, step) {
  let total;
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line);
    if (event.type === 'step.succeeded' && event.step === step) total = (total ?? 0) + event.durationMs;
  }
  return total;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args();
    await finish(await penguins(options), options.out);
  });
}
