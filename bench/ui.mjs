#!/usr/bin/env node
/**
 * Dashboard: time to first render, in Chromium, of the first page of runs
 * and of a 1,000-step run's graph, on a SQLite store holding 100,000
 * executions. The floor is a static HTML page of the same size served by the
 * same server (same stylesheet), so the ratio is what the dashboard's own
 * work costs: its queries, the graph layout, the template.
 *
 * First render is the browser's first contentful paint after navigation.
 * The run graph is measured on its first visit (dagre lays it out) and on
 * later visits (the layout of a pipeline shape is kept).
 *
 *   node bench/ui.mjs                         # fills its own store
 *   node bench/ui.mjs --db /tmp/filled.db     # a copy of a store filled by lib/fill.mjs
 *   node bench/ui.mjs --executions 1000 --steps 50 --repeats 2   # quick
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore } from '@cairn/runtime';
import { chromiumOptions } from '@cairn/testkit/ports';
import { startUi } from '@cairn/ui';
import { chromium } from 'playwright-core';
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
} from './lib/common.mjs';
import { nodeName, parents } from './lib/dag.mjs';
import { fillMetadata } from './lib/fill.mjs';

/** Record one run of an N-step layered DAG (the orchestration benchmark's shape) through the metadata API. */
async function recordBigRun(metadata, steps) {
  const runId = 'r_zzbigrun0000';
  const at = new Date().toISOString();
  const names = Array.from({ length: steps }, (_, i) => nodeName(i));
  await metadata.createRun({
    id: runId,
    pipeline: `dag-${steps}`,
    env: 'local',
    status: 'running',
    startedAt: at,
    versions: {},
    configs: Object.fromEntries(names.map((n, i) => [n, i.toString(16).padStart(64, '0')])),
  });
  const digest = (i) => (i + 1).toString(16).padStart(64, 'a');
  for (let i = 0; i < steps; i++) {
    const inputs = Object.fromEntries(
      parents(i).map((p, k) => [k === 0 ? 'a' : 'b', { digest: digest(p), type: 'json', size: 80 }]),
    );
    const output = { digest: digest(i), type: 'json', size: 80 };
    const executionId = `e_zzbig${String(i).padStart(6, '0')}`;
    await metadata.recordExecution(
      {
        id: executionId,
        runId,
        step: names[i],
        status: i % 7 === 0 ? 'cached' : 'succeeded',
        cacheKey: digest(i + 100_000),
        cacheable: true,
        inputs,
        outputs: { out: output },
        startedAt: at,
        finishedAt: at,
        durationMs: 3,
        attempts: 1,
      },
      [{ ...output, createdAt: at, producer: { runId, step: names[i], output: 'out', executionId } }],
    );
  }
  await metadata.updateRun(runId, {
    status: 'succeeded',
    finishedAt: new Date().toISOString(),
    counts: { executed: steps, cached: 0, failed: 0, skipped: 0 },
  });
  return runId;
}

/** First contentful paint of `url` in a fresh page, in ms after navigation start, and the page's size. */
async function firstRender(browser, url) {
  const page = await browser.newPage();
  try {
    // A first visit of a large graph includes its layout: allow it minutes on a loaded machine.
    const response = await page.goto(url, { waitUntil: 'load', timeout: 300_000 });
    if (response?.status() !== 200) throw new Error(`${url} answered ${response?.status()}`);
    const bytes = (await response.body()).length;
    const paint = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const find = () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
          const now = find();
          if (now !== undefined) return resolve(now);
          new PerformanceObserver(() => resolve(find())).observe({ type: 'paint', buffered: true });
        }),
    );
    return { ms: paint, bytes };
  } finally {
    await page.close();
  }
}

export async function uiBench(options) {
  const executions = options.executions ? parseSizes(options.executions)[0] : 100_000;
  const steps = options.steps ? parseSizes(options.steps)[0] : 1000;
  const repeats = parseRepeats(options.repeats, 7);
  const res = result('ui', 'Dashboard: time to first render vs a static page of the same size');
  const dir = await tempDir('ui');
  const profile = await mkdtemp(join(tmpdir(), 'cairn-bench-chromium-'));
  let browser;
  let ui;
  let metadata;
  try {
    const file = join(dir, 'metadata.db');
    if (options.db) await copyFile(options.db, file);
    else
      await fillMetadata(file, {
        runs: Math.max(1, Math.round(executions / 100)),
        perRun: Math.min(100, executions),
      });
    metadata = sqliteMetadata({ file });
    await metadata.init?.();
    const bigRun = await recordBigRun(metadata, steps);
    ui = await startUi({
      metadata,
      storage: localStore({ dir: join(dir, 'artifacts') }),
      port: 0,
      floorPage: true,
    });
    browser = await chromium.launchPersistentContext(profile, chromiumOptions({ width: 1280, height: 900 }));
    const measure = async (id, label, path, { cold = false } = {}) => {
      const first = cold ? await firstRender(browser, `${ui.url}${path}`) : undefined;
      const samples = [];
      let bytes = first?.bytes ?? 0;
      for (let i = 0; i < repeats; i++) {
        const r = await firstRender(browser, `${ui.url}${path}`);
        samples.push(r.ms);
        bytes = r.bytes;
      }
      const floorSamples = [];
      for (let i = 0; i < repeats; i++)
        floorSamples.push((await firstRender(browser, `${ui.url}/__static?bytes=${bytes}`)).ms);
      const page = stats(samples);
      const floor = stats(floorSamples);
      res.figures.push({
        id,
        label: `${label} (${round(bytes / 1024, 0)} KiB)`,
        unit: 'ms',
        stats: page,
        floor,
        ratio: round(page.median / floor.median, 2),
        floorLabel: 'static page',
      });
      if (first) {
        res.figures.push({
          id: `${id}-first`,
          label: `${label}, first visit (graph laid out)`,
          unit: 'ms',
          stats: stats([first.ms]),
          floor,
          ratio: round(first.ms / floor.median, 2),
          floorLabel: 'static page',
        });
      }
      return page.median / floor.median;
    };
    // Warm the browser and the server once so that the first figure does not pay for start-up.
    await firstRender(browser, `${ui.url}/__static?bytes=1000`);
    const runsRatio = await measure('runs', `first page of runs, ${executions} executions`, '/runs');
    const graphRatio = await measure('graph', `a ${steps}-step run's graph`, `/runs/${bigRun}`, {
      cold: true,
    });
    res.targets.push(
      {
        id: 'ui-runs',
        label: 'dashboard: first page of runs vs static page',
        target: '≤ 2',
        unit: '×',
        value: round(runsRatio, 2),
        pass: runsRatio <= 2,
      },
      {
        id: 'ui-graph',
        label: `dashboard: ${steps}-step run graph vs static page`,
        target: '≤ 3',
        unit: '×',
        value: round(graphRatio, 2),
        pass: graphRatio <= 3,
      },
    );
    res.notes.push(
      `First render is Chromium's first contentful paint; the floor is /__static of the same byte size with the same stylesheet, from the same fastify server. ${repeats} visits each; the graph's first visit includes the dagre layout, later visits reuse it.`,
    );
  } finally {
    await browser?.close();
    await ui?.close();
    await metadata?.close?.();
    await rm(profile, { recursive: true, force: true });
    await removeDir(dir);
  }
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({
      executions: { type: 'string' },
      steps: { type: 'string' },
      db: { type: 'string' },
    });
    await finish(await uiBench(options), options.out);
  });
}
