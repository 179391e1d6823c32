/**
 * Every benchmark, started as `npm run bench` starts it (its own process,
 * `--out <file>`), once at its smallest size, so that none of them can rot.
 * The assertions are on the shape and sanity of the results and on what the
 * benchmarks check themselves (which steps ran), never on time.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedSet } from './lib/dag.mjs';
import { markdown } from './lib/report.mjs';

const exec = promisify(execFile);
let dir: string;
const results: Record<string, any> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-bench-smoke-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run a benchmark from source (no build needed), the way run.mjs runs it from dist. */
async function bench(name: string, flags: string[]): Promise<any> {
  const out = join(dir, `${name}.json`);
  await exec(
    process.execPath,
    ['--import', 'tsx', '--conditions=@cairn/source', join(__dirname, `${name}.mjs`), '--out', out, ...flags],
    { cwd: __dirname, maxBuffer: 16 << 20 },
  );
  const parsed = JSON.parse(await readFile(out, 'utf8'));
  results[name] = parsed;
  return parsed;
}

function expectSaneStats(figure: any) {
  const { median, min, max, n } = figure.stats;
  expect(n, figure.label).toBeGreaterThanOrEqual(1);
  for (const value of [median, min, max]) expect(Number.isFinite(value), figure.label).toBe(true);
  expect(min).toBeLessThanOrEqual(median);
  expect(median).toBeLessThanOrEqual(max);
  expect(min).toBeGreaterThan(0);
}

describe('benchmarks at their smallest size', () => {
  it('process: every contender, spawned, executes exactly the steps it should', async () => {
    const res = await bench('process', ['--quick']);
    // The benchmark itself throws when a contender executes other than N, 0, or the changed set.
    const contenders = [...new Set(res.figures.map((f: any) => f.contender))];
    expect(contenders).toContain('plain');
    expect(contenders).toContain('api');
    expect(contenders.length + res.unavailable.length).toBeGreaterThanOrEqual(3);
    for (const f of res.figures) {
      expectSaneStats(f);
      expect(f.ratio).toBeGreaterThan(0);
      expect(f.executed).toBe({ cold: 20, noop: 0, change: changedSet(20).size }[f.scenario as string]);
    }
    expect(res.figures).toHaveLength(contenders.length * 3);
    expect(res.figures.filter((f: any) => f.contender === 'plain').every((f: any) => f.ratio === 1)).toBe(
      true,
    );
    expect(res.environment).toEqual(['PATH', 'HOME', 'LANG']);
  });

  it('orchestration: every variant and scenario, checked against its floor', async () => {
    const res = await bench('orchestration', ['--sizes', '20', '--repeats', '1']);
    // 2 executors × 2 concurrencies × 3 scenarios
    expect(res.figures).toHaveLength(12);
    const expected = { cold: 20, cached: 0, changed: changedSet(20).size };
    expect(expected.changed).toBe(2); // s0_0 and s1_0, the only second-layer step that reads it
    for (const f of res.figures) {
      expectSaneStats(f);
      expect(f.floor.median).toBeGreaterThan(0);
      expect(f.ratio).toBeGreaterThan(0);
      expect(f.executed).toBe(expected[f.scenario as keyof typeof expected]);
    }
    expect(res.targets.map((t: any) => t.id)).toEqual([
      'cached-1000-time',
      'cached-1000-ratio',
      'cold-overhead',
    ]);
    // N = 1,000 was not run, so those targets are not measured rather than guessed.
    expect(res.targets[0].pass).toBeNull();
  });

  it('artifacts: store and verify match sha256sum on a small file', async () => {
    const res = await bench('artifacts', ['--mib', '4', '--repeats', '1']);
    // The openssl rows are there when openssl is installed, and reported unavailable when not.
    const withOpenssl = res.unavailable.length === 0;
    expect(res.figures.map((f: any) => f.id)).toEqual(
      withOpenssl
        ? ['sha256sum', 'openssl', 'cp', 'store', 'verify', 'store-verify', 'store-verify-openssl']
        : ['sha256sum', 'cp', 'store', 'verify', 'store-verify'],
    );
    for (const f of res.figures) {
      expectSaneStats(f);
      expect(f.throughputMiBps).toBeGreaterThan(0);
    }
    expect(res.bytes).toBe(4 * 2 ** 20);
    expect(typeof res.targets[0].pass).toBe('boolean');
  });

  it('scale: peak memory of a run and metadata queries', async () => {
    const res = await bench('scale', ['--sizes', '20', '--executions', '300', '--repeats', '1', '--quick']);
    const rss = res.figures.find((f: any) => f.id === 'rss-20');
    expectSaneStats(rss);
    expect(rss.stats.median).toBeGreaterThan(10);
    expect(rss.stats.median).toBeLessThan(4096);
    for (const id of [
      'list-runs',
      'list-runs-filtered',
      'cache-lookup',
      'lineage-artifact',
      'list-executions',
    ]) {
      expectSaneStats(res.figures.find((f: any) => f.id === `query-${id}`));
    }
  });

  it('startup: the node floor always, the CLI when it is built', async () => {
    const res = await bench('startup', ['--executions', '200', '--sizes', '20', '--repeats', '1']);
    expectSaneStats(res.figures.find((f: any) => f.id === 'node'));
    // Each CLI command is either measured or listed as not available, never both or neither.
    const measured = res.figures.filter((f: any) => f.id !== 'node').length;
    expect(measured + res.unavailable.length).toBe(4);
    const help = res.targets.find((t: any) => t.id === 'help');
    expect(help.pass === null).toBe(help.value === null);
  });

  it('penguins: measured or not available', async () => {
    const res = await bench('penguins', ['--repeats', '1']);
    const ids = res.figures.map((f: any) => f.id);
    if (ids.includes('cold')) {
      // The load test's time is reported apart and taken out of a second cold figure.
      expect(ids).toEqual(['cold', 'cold-load-test', 'cold-without-load-test', 'cached']);
      const median = (id: string) => res.figures.find((f: any) => f.id === id).stats.median;
      expect(median('cold-without-load-test')).toBeCloseTo(median('cold') - median('cold-load-test'), 3);
    } else {
      expect(res.unavailable.length).toBe(2);
    }
    for (const f of res.figures) expectSaneStats(f);
  });

  it('serving: the floor and the six Cairn routes answer, with well-formed rates and latencies', async () => {
    const res = await bench('serving', [
      '--requests',
      '300',
      '--warmup',
      '50',
      '--concurrency',
      '1,4',
      '--repeats',
      '1',
      '--watch-rounds',
      '2',
      '--watch-epochs',
      '2',
      '--watch-ms',
      '200',
      '--watch-warm-requests',
      '300',
    ]);
    // From source the model server always loads: nothing may be "not available".
    expect(res.unavailable).toEqual([]);
    const scenarios = ['floor', 'primary', 'canary', 'shadow', 'unwatched', 'sampled', 'logged'];
    expect(res.figures.map((f: any) => f.id)).toEqual([
      ...scenarios.map((s) => `${s}-c1`),
      ...scenarios.map((s) => `${s}-c4`),
    ]);
    for (const f of res.figures) {
      expectSaneStats(f);
      expectSaneStats({ label: `${f.label} p50`, stats: f.p50 });
      expectSaneStats({ label: `${f.label} p99`, stats: f.p99 });
      expect(f.p50.median).toBeLessThanOrEqual(f.p99.median);
      if (f.scenario === 'floor') continue;
      expect(f.ratio).toBeGreaterThan(0);
      expect(Number.isFinite(f.overheadUsPerRequest)).toBe(true);
      expect(Number.isFinite(f.p50OverheadMs)).toBe(true);
    }
    // What the benchmark checked itself: the canary took some units, the shadow saw every request.
    expect(res.canaryShare).toBeGreaterThan(0);
    expect(res.canaryShare).toBeLessThan(1);
    expect(res.shadowPredictions).toBeGreaterThanOrEqual(0.99 * (300 + 50) * 2);
    for (const id of [
      'serving-overhead-p50',
      'serving-metrics-cost',
      'serving-watch-cost',
      'serving-full-log-cost',
      'serving-metrics-cost-cpu',
      'serving-watch-cost-cpu',
      'serving-full-log-cost-cpu',
    ]) {
      const target = res.targets.find((t: any) => t.id === id);
      expect(typeof target.pass, id).toBe('boolean');
      expect(Number.isFinite(target.value), id).toBe(true);
      if (id === 'serving-overhead-p50') continue;
      // A watch cost per concurrency, each with its rounds and an interval around the median.
      expect(
        target.perConcurrency.map((c: any) => c.concurrency),
        id,
      ).toEqual([1, 4]);
      for (const c of target.perConcurrency) {
        expect(c.rounds.length, id).toBe(2);
        // Two sets of fresh server processes, one round each.
        expect(c.epochs.length, id).toBe(2);
        expect(c.interval[0], id).toBeLessThanOrEqual(c.value);
        expect(c.interval[1], id).toBeGreaterThanOrEqual(c.value);
      }
    }
    // Each set was warmed up at each concurrency before its rounds, until every server had answered
    // the requests asked for; what watching cost meanwhile is reported apart.
    expect(res.watchWarmUps.map((w: any) => `${w.epoch}-c${w.concurrency}`)).toEqual([
      '0-c1',
      '0-c4',
      '1-c1',
      '1-c4',
    ]);
    for (const w of res.watchWarmUps) {
      expect(w.windows).toBeGreaterThanOrEqual(1);
      expect(w.ms).toBe(w.windows * 200);
      expect(Object.keys(w.costs).sort()).toEqual(['control', 'logged', 'primary', 'sampled']);
      for (const c of Object.values(w.costs) as any[]) expect(Number.isFinite(c.rps)).toBe(true);
    }
    expect(res.notes.some((n: string) => n.startsWith('Warm-up before the rounds'))).toBe(true);
    // The method's zero is reported beside the costs: two identical servers measured the same way.
    expect(res.notes.some((n: string) => n.startsWith("The method's zero"))).toBe(true);
    // On a machine with two cores or more, the pairs ran pinned: servers on one core, the client on another.
    if (availableParallelism() >= 2) expect(res.watchCores.server).not.toBe(res.watchCores.client);
    // Every request of the logged scenario, warm-ups included, is in the prediction log.
    expect(res.loggedRows).toBe((300 + 50) * 2);
    // ... and the requests the watch-cost sets' logged servers answered, each in its own log.
    expect(res.loggedRowsPaired).toBeGreaterThan(0);
    expect(res.watchEpochs).toBe(2);
    // Server CPU per request, read from each server process.
    for (const f of res.figures) expectSaneStats({ label: `${f.label} CPU`, stats: f.cpuUsPerRequest });
  });

  it('ui: first renders of the runs page and a run graph in Chromium, each against a static page', async () => {
    const res = await bench('ui', ['--executions', '300', '--steps', '40', '--repeats', '1']);
    expect(res.figures.map((f: any) => f.id)).toEqual(['runs', 'graph', 'graph-first']);
    for (const f of res.figures) {
      expectSaneStats(f);
      expect(f.floor.median).toBeGreaterThan(0);
      expect(f.ratio).toBeGreaterThan(0);
    }
    expect(res.targets.map((t: any) => t.id)).toEqual(['ui-runs', 'ui-graph']);
    for (const t of res.targets) expect(typeof t.pass).toBe('boolean');
  });

  it('the report renders every benchmark and target', () => {
    const text = markdown({
      machine: { cpu: 'x', cores: 2, memoryGiB: 1, node: 'v20', platform: 'linux x64' },
      startedAt: 'now',
      totalSeconds: 1,
      build: { core: 'skipped', cli: 'skipped' },
      benchmarks: results,
    });
    for (const res of Object.values(results)) expect(text).toContain(res.title);
    expect(text).toContain('| N | executor |');
    expect(text).toContain('| contender | cold, N = 20 |');
    expect(text).toContain('cached rerun of 1,000 steps');
    expect(text).toContain('| server | conc. | req/s |');
    expect(text).toContain('model-server p50 latency above the bare node:http floor');
  });
});
