#!/usr/bin/env node
/**
 * Scale: peak memory of a cold N-step run (in a child process), and metadata
 * queries on a SQLite store holding 100,000 executions (list runs, lineage of
 * an artifact, cache lookup).
 *
 *   node bench/scale.mjs                       # 10,000 steps, 100,000 executions
 *   node bench/scale.mjs --sizes 100 --executions 1000
 *   node bench/scale.mjs --db /tmp/filled.db    # reuse a store filled by lib/fill.mjs
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
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
import { fillMetadata } from './lib/fill.mjs';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./lib/memory-child.mjs', import.meta.url));
const PER_RUN = 100;

/** Fill a store with `executions` executions in runs of 100; returns the file and sample keys. */
export async function filledStore(dir, executions) {
  const file = join(dir, 'metadata.db');
  const runs = Math.max(1, Math.round(executions / PER_RUN));
  const { ms, value } = await timed(() =>
    fillMetadata(file, { runs, perRun: Math.min(PER_RUN, executions) }),
  );
  return { file, fillMs: ms, ...value };
}

export async function scale(options) {
  const sizes = parseSizes(options.sizes, [10000]);
  const executions = options.executions ? parseSizes(options.executions)[0] : 100_000;
  const repeats = parseRepeats(options.repeats, 2);
  const res = result('scale', 'Scale: peak memory and metadata queries');
  const dir = await tempDir('scale');
  try {
    for (const size of sizes) {
      const samples = [];
      const times = [];
      for (let r = 0; r < Math.min(repeats, size > 1000 ? 1 : repeats); r++) {
        const { stdout } = await run(process.execPath, [...process.execArgv, CHILD, String(size)], {
          maxBuffer: 1 << 20,
        });
        const line = JSON.parse(stdout.trim().split('\n').pop());
        samples.push(line.maxRssBytes / 2 ** 20);
        times.push(line.ms);
      }
      res.figures.push({
        id: `rss-${size}`,
        label: `peak RSS of a cold ${size}-step run`,
        unit: 'MiB',
        stats: stats(samples),
      });
      res.figures.push({
        id: `time-${size}`,
        label: `that run's wall time`,
        unit: 'ms',
        stats: stats(times),
      });
      if (size === 10000) {
        const peak = Math.max(...samples);
        res.targets.push({
          id: 'rss-10000',
          label: 'peak memory of a 10,000-step run',
          target: '< 300',
          unit: 'MiB',
          value: round(peak, 1),
          pass: peak < 300,
        });
      }
    }

    const store = options.db
      ? {
          file: options.db,
          fillMs: undefined,
          sample: options.sample ? JSON.parse(await readFile(options.sample, 'utf8')) : null,
        }
      : await filledStore(dir, executions);
    if (!store.sample)
      throw new Error('--db needs --sample <file> (the sample fillMetadata returns, as JSON)');
    if (store.fillMs !== undefined) {
      res.notes.push(
        `filled ${executions} executions through the store API in ${round(store.fillMs / 1000, 1)} s`,
      );
    }
    const metadata = sqliteMetadata({ file: store.file });
    await metadata.init?.();
    try {
      const queries = {
        'list-runs': async () => {
          const runs = await metadata.listRuns({ limit: 50 });
          if (runs.length === 0) throw new Error('listRuns returned nothing');
        },
        'list-runs-filtered': async () => {
          const runs = await metadata.listRuns({ pipeline: 'scoring', status: 'succeeded', limit: 50 });
          if (runs.length === 0) throw new Error('listRuns (filtered) returned nothing');
        },
        'cache-lookup': async (i) => {
          const key = store.sample.cacheKeys[i % store.sample.cacheKeys.length];
          if (!(await metadata.lookupCache(key))) throw new Error(`lookupCache missed ${key}`);
        },
        'lineage-artifact': async (i) => {
          const digest = store.sample.digests[i % store.sample.digests.length];
          const graph = await metadata.lineage({ digest });
          if (!graph || (graph.executions?.length ?? 0) === 0)
            throw new Error(`lineage of ${digest} is empty`);
        },
        'list-executions': async (i) => {
          const runId = store.sample.runIds[i % store.sample.runIds.length];
          if ((await metadata.listExecutions(runId)).length === 0)
            throw new Error(`run ${runId} has no executions`);
        },
      };
      const iterations = options.quick ? 5 : 200;
      for (const [id, query] of Object.entries(queries)) {
        await query(0);
        const samples = [];
        for (let i = 0; i < iterations; i++) samples.push((await timed(() => query(i + 1))).ms);
        res.figures.push({
          id: `query-${id}`,
          label: `${id} at ${executions} executions`,
          unit: 'ms',
          stats: stats(samples),
        });
      }
    } finally {
      await metadata.close?.();
    }
    res.notes.push(
      'Metadata queries have no floor: they are absolute latencies (median of repeated calls on a warm connection).',
    );
  } finally {
    await removeDir(dir);
  }
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({
      executions: { type: 'string' },
      db: { type: 'string' },
      sample: { type: 'string' },
    });
    await finish(await scale(options), options.out);
  });
}
