/**
 * Graph layout off the event loop: while a 1,000-step run's graph is laid out
 * on the layout thread, the server answers other requests; the layout is
 * then kept per graph shape. Ordering is observed through the server's layout
 * events, never through timings.
 */
import type { MetadataStore } from '@cairn/core';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutGraph } from '../src/graph';
import { createLayouts, type LayoutEvent, WORKER_MIN_NODES } from '../src/layout';
import { startUi, type UiServer } from '../src/server';

const STEPS = 1000;
const name = (i: number) => `step-${String(i).padStart(4, '0')}`;
/** The benchmarks' layered DAG, 10 wide: each step reads two of the layer before. */
const parents = (i: number) => (i < 10 ? [] : [i - 10, i % 10 === 9 ? i - 11 : i - 9]);
const digest = (i: number) => (i + 1).toString(16).padStart(64, 'a');

/** Record one run of the big DAG through the metadata contract, as an orchestrator would. */
async function recordBigRun(metadata: MetadataStore, runId: string): Promise<void> {
  const at = new Date().toISOString();
  await metadata.createRun({
    id: runId,
    pipeline: 'dag-1000',
    env: 'local',
    status: 'running',
    startedAt: at,
    versions: {},
    configs: Object.fromEntries(Array.from({ length: STEPS }, (_, i) => [name(i), digest(i + 50_000)])),
  });
  for (let i = 0; i < STEPS; i++) {
    const executionId = `e_${runId.slice(2)}${String(i).padStart(5, '0')}`;
    const output = { digest: digest(i), type: 'json', size: 80 };
    await metadata.recordExecution(
      {
        id: executionId,
        runId,
        step: name(i),
        status: 'succeeded',
        cacheKey: digest(i + 100_000),
        cacheable: true,
        inputs: Object.fromEntries(
          parents(i).map((p, k) => [`in${k}`, { digest: digest(p), type: 'json', size: 80 }]),
        ),
        outputs: { out: output },
        startedAt: at,
        finishedAt: at,
        durationMs: 3,
        attempts: 1,
      },
      [{ ...output, createdAt: at, producer: { runId, step: name(i), output: 'out', executionId } }],
    );
  }
  await metadata.updateRun(runId, {
    status: 'succeeded',
    finishedAt: at,
    counts: { executed: STEPS, cached: 0, failed: 0, skipped: 0 },
  });
}

describe('graph layout on a worker thread', () => {
  let ui: UiServer;
  const events: string[] = [];
  let bigLayoutStarted: () => void;
  const started = new Promise<void>((resolve) => {
    bigLayoutStarted = resolve;
  });

  beforeAll(async () => {
    const metadata = memoryMetadata();
    await recordBigRun(metadata, 'r_bigrun0001');
    await recordBigRun(metadata, 'r_bigrun0002');
    ui = await startUi({
      metadata,
      storage: memoryStore(),
      port: 0,
      onLayout: (event: LayoutEvent) => {
        events.push(`layout ${event.phase} ${event.where} ${event.nodes}`);
        if (event.phase === 'started' && event.nodes === STEPS) bigLayoutStarted();
      },
    });
  }, 120_000);
  afterAll(async () => {
    await ui?.close();
  });

  it('answers other requests while a 1,000-step graph is being laid out, then serves the graph', async () => {
    const runPage = fetch(`${ui.url}/runs/r_bigrun0001`).then(async (response) => {
      events.push('run page answered');
      return { status: response.status, html: await response.text() };
    });
    await started;
    const health = await fetch(`${ui.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    events.push('healthz answered');
    const runs = await fetch(`${ui.url}/runs`);
    expect(runs.status).toBe(200);
    expect(await runs.text()).toContain('r_bigrun0001');
    events.push('runs answered');
    const page = await runPage;
    // The server's event loop was free during the layout: both answers came between its start and its end.
    expect(events).toEqual([
      `layout started worker ${STEPS}`,
      'healthz answered',
      'runs answered',
      `layout finished worker ${STEPS}`,
      'run page answered',
    ]);
    expect(page.status).toBe(200);
    // Every step drawn, each placed once.
    const svg = page.html.slice(page.html.indexOf('<svg class="dag"'), page.html.indexOf('</svg>'));
    expect(svg.match(/<a href="[^"]*" class="node /g)?.length).toBe(STEPS);
    expect(svg.match(/marker-end="url\(#arrow\)"/g)?.length).toBe((STEPS - 10) * 2);
  }, 300_000);

  it('keeps the layout per graph shape: another run of the same pipeline lays nothing out', async () => {
    const before = events.length;
    const again = await fetch(`${ui.url}/runs/r_bigrun0002`);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('r_bigrun0002');
    expect(events.slice(before).filter((e) => e.startsWith('layout'))).toEqual([]);
  }, 120_000);
});

describe('createLayouts', () => {
  it('places a graph on the thread exactly as inline, keeping each caller its own labels and links', async () => {
    const count = WORKER_MIN_NODES + 40;
    const nodes = Array.from({ length: count }, (_, i) => ({
      id: name(i),
      label: name(i),
      kind: 'succeeded',
    }));
    const edges = nodes.slice(1).map((_, k) => ({ from: name(Math.floor(k / 3)), to: name(k + 1) }));
    const heard: LayoutEvent[] = [];
    const layouts = createLayouts((e) => heard.push(e));
    try {
      const threaded = await layouts.layout(nodes, edges);
      expect(heard.map((e) => [e.phase, e.where])).toEqual([
        ['started', 'worker'],
        ['finished', 'worker'],
      ]);
      expect(threaded).toEqual(layoutGraph(nodes, edges));
      // Same shape, other labels of the same length and other links: from the cache, with the new node data.
      const relabelled = nodes.map((n) => ({ ...n, label: n.label.toUpperCase(), href: `/x/${n.id}` }));
      const cached = await layouts.layout(relabelled, edges);
      expect(heard).toHaveLength(2);
      expect(cached.nodes[5]).toMatchObject({ label: name(5).toUpperCase(), href: `/x/${name(5)}` });
      expect(cached.nodes[5]!.x).toBe(threaded.nodes[5]!.x);
      // Small graphs stay inline.
      await layouts.layout(nodes.slice(0, 3), edges.slice(0, 1));
      expect(heard.at(-1)).toMatchObject({ phase: 'finished', where: 'inline', nodes: 3 });
    } finally {
      await layouts.close();
    }
  }, 120_000);
});
