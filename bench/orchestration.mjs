#!/usr/bin/env node
/**
 * Orchestration overhead: Cairn against a hand-written script (lib/floor.mjs)
 * on layered DAGs of N steps, cold, fully cached, and after changing the
 * config of one first-layer step. Checks through events that a cold run
 * executes everything, a cached rerun reuses everything, and a config change
 * re-executes exactly the changed step and its descendants.
 *
 *   node bench/orchestration.mjs --sizes 10,100 --repeats 3
 *   node bench/orchestration.mjs --sizes 1000 --executors in-process --concurrency 1
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { inProcess, localStore, runPipeline, workerPool } from '@cairn/runtime';
import {
  args,
  finish,
  main,
  parseRepeats,
  parseSizes,
  removeDir,
  result,
  round,
  stats,
  tempDir,
  timed,
} from './lib/common.mjs';
import { changedSet, dagConfigs, dagModule, nodeName } from './lib/dag.mjs';
import { runFloor } from './lib/floor.mjs';

export const DEFAULT_SIZES = [10, 100, 1000, 10000];
const ALL_SCENARIOS = ['cold', 'cached', 'changed'];
/** Above this size only in-process, concurrency 1, cold and cached run (the full grid takes too long). */
const LARGE = 5000;

function defaultRepeats(size) {
  if (size <= 100) return 5;
  if (size <= 1000) return 3;
  return 2;
}

/** Run the pipeline through Cairn with the embedded defaults; returns time and what the events say. */
export async function runCairn(dag, dir, configs, { executor, concurrency }) {
  const started = new Set();
  const cached = new Set();
  const { ms, value } = await timed(async () => {
    const metadata = sqliteMetadata({ file: join(dir, '.cairn', 'metadata.db') });
    try {
      return await runPipeline(dag, {
        storage: localStore({ dir: join(dir, '.cairn', 'artifacts') }),
        metadata,
        executor: executor === 'worker-pool' ? workerPool({ size: concurrency }) : inProcess({ concurrency }),
        concurrency,
        projectDir: dir,
        configs,
        onEvent: (event) => {
          if (event.type === 'step.started') started.add(event.step);
          else if (event.type === 'step.cached') cached.add(event.step);
        },
      });
    } finally {
      await metadata.close?.();
    }
  });
  if (value.status !== 'succeeded') {
    throw new Error(`Cairn run of ${dag.name} ended ${value.status}: ${JSON.stringify(value.error)}`);
  }
  return { ms, started, cached, result: value };
}

function expectSet(label, actual, expected) {
  const missing = [...expected].filter((name) => !actual.has(name));
  const extra = [...actual].filter((name) => !expected.has(name));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `${label}: expected ${expected.size} steps, got ${actual.size} (missing ${missing.slice(0, 5).join(',')}; unexpected ${extra.slice(0, 5).join(',')})`,
    );
  }
}

/** Check a scenario's events: which steps ran and which were reused. */
function checkScenario(size, scenario, cairn, floor) {
  const all = new Set(Array.from({ length: size }, (_, i) => nodeName(i)));
  const none = new Set();
  const ran = scenario === 'cold' ? all : scenario === 'cached' ? none : changedSet(size);
  const reused = new Set([...all].filter((name) => !ran.has(name)));
  expectSet(`${scenario} N=${size}: executed steps`, cairn.started, ran);
  expectSet(`${scenario} N=${size}: cached steps`, cairn.cached, reused);
  if (floor.executed !== ran.size || floor.reused !== reused.size) {
    throw new Error(
      `${scenario} N=${size}: the floor executed ${floor.executed} and reused ${floor.reused}, expected ${ran.size}/${reused.size}`,
    );
  }
  return ran.size;
}

export function variantsFor(size, executors, concurrencies, scenarios) {
  const list = [];
  for (const executor of executors) {
    for (const concurrency of concurrencies) {
      if (size > LARGE && (executor !== 'in-process' || concurrency !== 1)) continue;
      const picked = size > LARGE ? scenarios.filter((s) => s !== 'changed') : scenarios;
      list.push({ executor, concurrency, scenarios: picked });
    }
  }
  return list;
}

export async function orchestration(options) {
  const sizes = parseSizes(options.sizes, DEFAULT_SIZES);
  const executors = options.executors ? options.executors.split(',') : ['in-process', 'worker-pool'];
  const concurrencies = options.concurrency ? parseSizes(options.concurrency, [1]) : [1, 2];
  const scenarios = options.scenarios ? options.scenarios.split(',') : ALL_SCENARIOS;
  for (const e of executors)
    if (!['in-process', 'worker-pool'].includes(e)) throw new Error(`--executors: unknown "${e}"`);
  for (const s of scenarios) if (!ALL_SCENARIOS.includes(s)) throw new Error(`--scenarios: unknown "${s}"`);

  const res = result('orchestration', 'Orchestration overhead (layered DAG, width 10)');
  const root = await tempDir('orch');
  try {
    for (const size of sizes) {
      const repeats = parseRepeats(options.repeats, defaultRepeats(size));
      const { dag } = await import(pathToFileURL(await dagModule(root, size)).href);
      for (const variant of variantsFor(size, executors, concurrencies, scenarios)) {
        const samples = Object.fromEntries(variant.scenarios.map((s) => [s, { cairn: [], floor: [] }]));
        const executedCount = {};
        for (let r = 0; r < repeats; r++) {
          const dir = join(root, `n${size}-${variant.executor}-c${variant.concurrency}-r${r}`);
          for (const scenario of variant.scenarios) {
            const configs = dagConfigs(size, scenario === 'changed');
            // Alternate which goes first so that neither always meets a warmer page cache.
            const floorFirst = r % 2 === 0;
            let floor;
            let cairn;
            const doFloor = async () => {
              const t = await timed(() => runFloor(join(dir, 'floor'), size, configs, variant.concurrency));
              floor = t.value;
              samples[scenario].floor.push(t.ms);
            };
            const doCairn = async () => {
              cairn = await runCairn(dag, join(dir, 'cairn'), configs, variant);
              samples[scenario].cairn.push(cairn.ms);
            };
            if (floorFirst) {
              await doFloor();
              await doCairn();
            } else {
              await doCairn();
              await doFloor();
            }
            executedCount[scenario] = checkScenario(size, scenario, cairn, floor);
          }
          await removeDir(dir);
        }
        for (const scenario of variant.scenarios) {
          const cairn = stats(samples[scenario].cairn);
          const floor = stats(samples[scenario].floor);
          const id = `n${size}.${variant.executor}.c${variant.concurrency}.${scenario}`;
          res.figures.push({
            id,
            group: `N=${size}`,
            size,
            executor: variant.executor,
            concurrency: variant.concurrency,
            scenario,
            executed: executedCount[scenario],
            label: `N=${size} ${variant.executor} c${variant.concurrency} ${scenario}`,
            unit: 'ms',
            stats: cairn,
            floor: floor,
            ratio: round(cairn.median / floor.median, 2),
            overheadPerStepMs: round((cairn.median - floor.median) / size, 3),
          });
        }
      }
    }
  } finally {
    await removeDir(root);
  }

  const find = (size, executor, c, scenario) =>
    res.figures.find((f) => f.id === `n${size}.${executor}.c${c}.${scenario}`);
  const cached1000 = find(1000, 'in-process', 1, 'cached');
  res.targets.push({
    id: 'cached-1000-time',
    label: 'cached rerun of 1,000 steps (in-process, c1)',
    target: '< 1000',
    unit: 'ms',
    value: cached1000?.stats.median ?? null,
    pass: cached1000 ? cached1000.stats.median < 1000 : null,
  });
  res.targets.push({
    id: 'cached-1000-ratio',
    label: 'cached rerun of 1,000 steps vs floor',
    target: '≤ 3',
    unit: '×',
    value: cached1000?.ratio ?? null,
    pass: cached1000 ? cached1000.ratio <= 3 : null,
  });
  const colds = res.figures.filter(
    (f) => f.executor === 'in-process' && f.scenario === 'cold' && f.size >= 100,
  );
  const worstCold = colds.sort((a, b) => b.overheadPerStepMs - a.overheadPerStepMs)[0];
  res.targets.push({
    id: 'cold-overhead',
    label: `cold per-step overhead above floor, in-process (worst of N ≥ 100: ${worstCold?.label ?? '—'})`,
    target: '< 1',
    unit: 'ms/step',
    value: worstCold?.overheadPerStepMs ?? null,
    pass: worstCold ? worstCold.overheadPerStepMs < 1 : null,
  });
  if (sizes.some((s) => s > LARGE)) {
    res.notes.push(
      `N > ${LARGE} runs in-process at concurrency 1, cold and cached only: the full grid of executors, concurrencies and the config-change scenario at that size would not fit the 10-minute budget.`,
    );
  }
  res.notes.push(
    'Floor: the same reads, sha256 hashing and durable atomic writes (temp, fsync, rename, fsync folder) in topological order, with a JSON cache index; no framework. Overhead per step = (Cairn median − floor median) / N.',
  );
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({
      executors: { type: 'string' },
      concurrency: { type: 'string' },
      scenarios: { type: 'string' },
    });
    await finish(await orchestration(options), options.out);
  });
}
