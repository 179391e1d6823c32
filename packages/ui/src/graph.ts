/**
 * Graph layout with dagre, on the server: the page arrives with the DAG
 * already placed as SVG, so a 1,000-step run renders without waiting for a
 * script, and the browser only recolours nodes as the run goes.
 */
import { Graph, layout } from '@dagrejs/dagre';

export interface GraphNodeInput {
  id: string;
  label: string;
  /** A second, smaller line (state and duration, an artifact type). */
  detail?: string;
  /** CSS class suffix: the step state or `artifact`/`execution`. */
  kind: string;
  href?: string;
}

export interface PlacedNode extends GraphNodeInput {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedGraph {
  nodes: PlacedNode[];
  edges: Array<{ from: string; to: string; path: string }>;
  width: number;
  height: number;
}

const CHAR_WIDTH = 7.2;
const NODE_HEIGHT = 40;
/** Above this many nodes the layout trades some crossings for speed. */
const LARGE_GRAPH = 150;

/** Lay a DAG out top to bottom; edges become SVG path data. */
export function layoutGraph(
  nodes: readonly GraphNodeInput[],
  edges: ReadonlyArray<{ from: string; to: string }>,
  direction: 'TB' | 'LR' = 'TB',
): PlacedGraph {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: direction, nodesep: 24, ranksep: 36, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const text = Math.max(node.label.length, (node.detail ?? '').length * 0.9);
    g.setNode(node.id, { width: Math.min(280, Math.max(90, text * CHAR_WIDTH + 28)), height: NODE_HEIGHT });
  }
  const known = new Set(nodes.map((n) => n.id));
  const unique = new Set<string>();
  for (const edge of edges) {
    const key = `${edge.from}\u0000${edge.to}`;
    if (!known.has(edge.from) || !known.has(edge.to) || unique.has(key)) continue;
    unique.add(key);
    g.setEdge(edge.from, edge.to);
  }
  // dagre's defaults (network-simplex ranking, exhaustive crossing reduction) take tens of
  // seconds on 1,000 nodes; longest-path ranking with one ordering pass takes under two.
  const large = nodes.length > LARGE_GRAPH;
  if (large) g.graph().ranker = 'longest-path';
  layout(g, large ? { disableOptimalOrderHeuristic: true, ranker: 'longest-path' } : {});
  const placed = nodes.map((node) => {
    const at = g.node(node.id) as { x: number; y: number; width: number; height: number };
    return { ...node, x: at.x - at.width / 2, y: at.y - at.height / 2, width: at.width, height: at.height };
  });
  const paths = g.edges().map((e) => {
    const points = (g.edge(e) as { points: Array<{ x: number; y: number }> }).points;
    const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('');
    return { from: e.v, to: e.w, path };
  });
  const label = g.graph() as { width?: number; height?: number };
  return {
    nodes: placed,
    edges: paths,
    width: Math.ceil(label.width ?? 0),
    height: Math.ceil(label.height ?? 0),
  };
}
