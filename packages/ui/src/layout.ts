/**
 * Graph layouts for the pages, off the event loop. dagre is synchronous and a
 * 1,000-step graph takes seconds to lay out: done on the server's thread, it
 * would stall every other request (the runs page, a live run's events, a
 * health check) for that long. So graphs above a few dozen nodes are laid out
 * on one worker thread, small ones inline (a round trip would cost more than
 * the layout). Layouts are cached by the graph's shape — node ids and sizes,
 * edges, direction — so every run of one pipeline shares one, and concurrent
 * requests for a shape being laid out wait for the same layout.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { type GraphNodeInput, layoutGraph, type PlacedGraph } from './graph';

/** What `onLayout` hears: a layout starting and finishing, with where it ran. */
export interface LayoutEvent {
  phase: 'started' | 'finished' | 'failed';
  key: string;
  nodes: number;
  where: 'worker' | 'inline';
}

export interface Layouts {
  /** Lay out (or take from the cache) a graph; nodes keep the caller's labels, kinds and links. */
  layout(
    nodes: readonly GraphNodeInput[],
    edges: ReadonlyArray<{ from: string; to: string }>,
    direction?: 'TB' | 'LR',
  ): Promise<PlacedGraph>;
  close(): Promise<void>;
}

/** Graphs with more nodes than this go to the layout thread. */
export const WORKER_MIN_NODES = 60;
const CACHE_SIZE = 50;

const sourceMode = import.meta.url.endsWith('.ts');

function workerEntry(): URL {
  return sourceMode
    ? new URL('./layout-worker-bootstrap.mjs', import.meta.url)
    : new URL('./layout-worker.js', import.meta.url);
}

/** A node's size is all the layout reads of it besides its id: labels of the same length share a layout. */
function shapeKey(
  nodes: readonly GraphNodeInput[],
  edges: ReadonlyArray<{ from: string; to: string }>,
  direction: string,
): string {
  const hash = createHash('sha256').update(direction);
  for (const n of nodes) hash.update(`\u0001${n.id}\u0002${n.label.length}\u0002${(n.detail ?? '').length}`);
  hash.update('\u0003');
  for (const e of edges) hash.update(`\u0001${e.from}\u0002${e.to}`);
  return hash.digest('hex');
}

export function createLayouts(onLayout?: (event: LayoutEvent) => void): Layouts {
  const cache = new Map<string, PlacedGraph>();
  const inFlight = new Map<string, Promise<PlacedGraph>>();
  const pending = new Map<number, { resolve: (g: PlacedGraph) => void; reject: (e: Error) => void }>();
  let worker: Worker | undefined;
  let nextId = 1;
  let closed = false;

  const failAll = (error: Error) => {
    for (const job of pending.values()) job.reject(error);
    pending.clear();
    worker = undefined;
  };

  const thread = (): Worker => {
    if (worker) return worker;
    const started = new Worker(workerEntry(), { execArgv: [...process.execArgv] });
    // An idle layout thread never keeps the process alive.
    started.unref();
    started.on('message', (reply: { id: number; placed?: PlacedGraph; error?: string }) => {
      const job = pending.get(reply.id);
      if (!job) return;
      pending.delete(reply.id);
      if (reply.placed) job.resolve(reply.placed);
      else job.reject(new Error(reply.error ?? 'the layout thread answered nothing'));
    });
    started.on('error', (error) => failAll(error));
    started.on('exit', (code) => {
      if (worker === started) failAll(new Error(`the layout thread exited (code ${code})`));
    });
    worker = started;
    return started;
  };

  const onWorker = (
    nodes: readonly GraphNodeInput[],
    edges: ReadonlyArray<{ from: string; to: string }>,
    direction: 'TB' | 'LR',
  ): Promise<PlacedGraph> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      // Only what the layout reads crosses the thread boundary.
      const bare = nodes.map((n) => ({ id: n.id, label: n.label, detail: n.detail ?? '', kind: '' }));
      thread().postMessage({
        id,
        nodes: bare,
        edges: edges.map((e) => ({ from: e.from, to: e.to })),
        direction,
      });
    });

  const place = (layout: PlacedGraph, nodes: readonly GraphNodeInput[]): PlacedGraph => {
    const at = new Map(layout.nodes.map((n) => [n.id, n]));
    return {
      ...layout,
      nodes: nodes.map((n) => {
        const p = at.get(n.id)!;
        return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
      }),
    };
  };

  return {
    async layout(nodes, edges, direction = 'TB') {
      if (closed) throw new Error('The dashboard is closing: no more layouts');
      const key = shapeKey(nodes, edges, direction);
      const cached = cache.get(key);
      if (cached) {
        // Most recently used last: the oldest shape is the one dropped.
        cache.delete(key);
        cache.set(key, cached);
        return place(cached, nodes);
      }
      let running = inFlight.get(key);
      if (!running) {
        const where = nodes.length > WORKER_MIN_NODES ? 'worker' : 'inline';
        const event = { key, nodes: nodes.length, where } as const;
        onLayout?.({ phase: 'started', ...event });
        running = (
          where === 'worker'
            ? onWorker(nodes, edges, direction)
            : Promise.resolve(layoutGraph(nodes, edges, direction))
        ).then(
          (placed) => {
            inFlight.delete(key);
            cache.set(key, placed);
            if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
            onLayout?.({ phase: 'finished', ...event });
            return placed;
          },
          (error: Error) => {
            inFlight.delete(key);
            onLayout?.({ phase: 'failed', ...event });
            // Not the request's fault: an internal error (500), with what failed.
            throw new Error(`The graph (${nodes.length} nodes) could not be laid out: ${error.message}`, {
              cause: error,
            });
          },
        );
        inFlight.set(key, running);
      }
      return place(await running, nodes);
    },
    async close() {
      closed = true;
      const current = worker;
      worker = undefined;
      failAll(new Error('the dashboard closed'));
      await current?.terminate();
    },
  };
}
