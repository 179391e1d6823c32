/**
 * The layout thread: lays graphs out with dagre off the server's event loop.
 * A 1,000-step graph takes seconds; meanwhile the server keeps answering.
 */
import { parentPort } from 'node:worker_threads';
import { type GraphNodeInput, layoutGraph } from './graph';

export interface LayoutRequest {
  id: number;
  nodes: GraphNodeInput[];
  edges: Array<{ from: string; to: string }>;
  direction: 'TB' | 'LR';
}

parentPort?.on('message', (request: LayoutRequest) => {
  try {
    const placed = layoutGraph(request.nodes, request.edges, request.direction);
    parentPort?.postMessage({ id: request.id, placed });
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: (error as Error)?.message ?? String(error) });
  }
});
