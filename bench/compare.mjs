#!/usr/bin/env node
/**
 * Two `results/latest.json` files side by side, figure by figure: what a
 * change did to every number both runs measured. Each figure is put against
 * the floor its own run measured (the `ratio` a benchmark reports, else the
 * same benchmark's floor figure: sha256sum, `node -e 0`, the bare node:http
 * server at the same concurrency), so two runs on a machine whose speed
 * drifted between them still compare fairly. Absolute figures (memory,
 * penguins) are compared as they are.
 *
 *   node bench/compare.mjs before/latest.json bench/results/latest.json [--over 1.15]
 *
 * Prints a markdown table; rows whose floor-relative figure got worse by more
 * than `--over` (default 1.15) are marked, and the exit code is 0 either way.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { over: { type: 'string', default: '1.15' } },
});
if (positionals.length !== 2) {
  process.stderr.write('usage: node bench/compare.mjs <before.json> <after.json> [--over 1.15]\n');
  process.exit(2);
}
const over = Number(values.over);
if (!(over > 1)) {
  process.stderr.write(`--over: "${values.over}" must be a number above 1\n`);
  process.exit(2);
}
/** A results file (bench/results/*.json), or exit 2 with one line naming the file and what is wrong. */
function readResults(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    process.stderr.write(`compare: cannot read ${path}: ${error.code ?? error.message}\n`);
    process.exit(2);
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.benchmarks === 'object' && parsed.benchmarks !== null) return parsed;
  } catch (error) {
    process.stderr.write(`compare: ${path} is not JSON: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`compare: ${path} holds no "benchmarks": not a bench/results file\n`);
  process.exit(2);
}
const [before, after] = positionals.map(readResults);

/** The floor figure a benchmark's other figures are put against, when it reports no ratio itself. */
const FLOOR = {
  artifacts: () => 'sha256sum',
  startup: () => 'node',
  serving: (figure) => (figure.concurrency === undefined ? undefined : `floor-c${figure.concurrency}`),
};

/** A figure against its run's floor (time-like: lower is better), or undefined when it has none. */
function relative(bench, figure) {
  // Throughput (req/s) is higher-is-better: inverted, so that a bigger number is always worse.
  const higherIsBetter = figure.unit === 'req/s';
  if (typeof figure.ratio === 'number') return higherIsBetter ? 1 / figure.ratio : figure.ratio;
  const floorId = FLOOR[bench.name]?.(figure);
  if (floorId === undefined || floorId === figure.id) return undefined;
  const floor = bench.figures.find((f) => f.id === floorId);
  if (!floor?.stats?.median || !figure.stats?.median) return undefined;
  return higherIsBetter ? floor.stats.median / figure.stats.median : figure.stats.median / floor.stats.median;
}

const fmt = (value) => (value === undefined ? '–' : Number(value.toPrecision(3)).toString());
const lines = [
  `before: commit ${before.machine?.commit ?? '?'} (${before.startedAt}); after: commit ${after.machine?.commit ?? '?'} (${after.startedAt})`,
  '',
  '| benchmark | figure | before | after | before vs floor | after vs floor | change |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];
let worse = 0;
let compared = 0;
for (const [name, bench] of Object.entries(after.benchmarks ?? {})) {
  const old = before.benchmarks?.[name];
  if (!old || bench.failed || old.failed) continue;
  for (const figure of bench.figures ?? []) {
    const was = old.figures?.find((f) => f.id === figure.id);
    if (!was?.stats || !figure.stats) continue;
    if (was.executed !== undefined && figure.executed !== undefined && was.executed !== figure.executed) {
      // The benchmark changed what this row does (e.g. how many steps a change re-runs): not comparable.
      lines.push(
        `| ${name} | ${figure.label} | ${fmt(was.stats.median)} ${was.unit} | ${fmt(figure.stats.median)} ${figure.unit} | – | – | not comparable: ran ${was.executed} steps, now ${figure.executed} |`,
      );
      continue;
    }
    compared++;
    const a = relative(old, was);
    const b = relative(bench, figure);
    const absolute =
      figure.unit === 'req/s'
        ? was.stats.median / figure.stats.median
        : figure.stats.median / was.stats.median;
    const change = a !== undefined && b !== undefined ? b / a : absolute;
    // A floor moving is the machine, not Cairn: shown, never marked.
    const mark = change > over && !figure.label.includes('(floor)') ? ' **worse**' : '';
    if (mark) worse++;
    lines.push(
      `| ${name} | ${figure.label} | ${fmt(was.stats.median)} ${was.unit} | ${fmt(figure.stats.median)} ${figure.unit} | ${fmt(a)} | ${fmt(b)} | ${fmt(change)}×${mark} |`,
    );
  }
}
lines.push(
  '',
  `${compared} comparable figures in both runs; ${worse} worse by more than ${over}× (change: after/before, floor-relative where both have a floor; above 1 is worse).`,
);
process.stdout.write(`${lines.join('\n')}\n`);
