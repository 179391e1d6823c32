import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { json, type LineageGraph, metrics, pipeline, step } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore, runPipeline } from '@cairn/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderLineage } from '../src/lib/lineage';
import { tempDir } from './helpers';

const ingest = step({
  name: 'ingest',
  outputs: { rows: json<number[]>() },
  run: () => ({ rows: [1, 2, 3, 4] }),
});
const prepare = step({
  name: 'prepare',
  inputs: { rows: json<number[]>() },
  outputs: { train: json<number[]>(), test: json<number[]>() },
  run: ({ inputs }) => ({ train: inputs.rows.slice(0, 3), test: inputs.rows.slice(3) }),
});
const train = step({
  name: 'train',
  config: z.object({ scale: z.number().default(2) }),
  inputs: { train: json<number[]>() },
  outputs: { model: json<number[]>() },
  run: ({ config, inputs }) => ({ model: inputs.train.map((x) => x * config.scale) }),
});
const evaluate = step({
  name: 'evaluate',
  inputs: { model: json<number[]>(), test: json<number[]>(), rows: json<number[]>() },
  outputs: { scores: metrics() },
  run: ({ inputs }) => ({ scores: { n: inputs.model.length + inputs.test.length + inputs.rows.length } }),
});
const training = pipeline('training', () => {
  const { rows } = ingest();
  const { train: trainRows, test } = prepare({ rows });
  const { model } = train({ train: trainRows });
  evaluate({ model, test, rows });
});

/** Every node reachable from `start` along the graph's edges in one direction. */
function reachable(graph: LineageGraph, start: string, direction: 'up' | 'down'): Set<string> {
  const found = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const edge of graph.edges) {
      const [from, to] = direction === 'up' ? [edge.to, edge.from] : [edge.from, edge.to];
      if (from === node && to !== start && !found.has(to)) {
        found.add(to);
        queue.push(to);
      }
    }
  }
  return found;
}

describe('renderLineage', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints each node once after many cached runs (no explosion through shared ancestors)', async () => {
    dir = await tempDir('lineage');
    const metadata = sqliteMetadata({ file: join(dir, 'metadata.db') });
    const storage = localStore({ dir: join(dir, 'artifacts') });
    let scores = '';
    // Eight runs: the first executes every step, the rest find every step cached, and each
    // records its executions, so every artifact gains a producer per run.
    for (let run = 0; run < 8; run++) {
      const result = await runPipeline(training, { storage, metadata, projectDir: dir });
      expect(result.status).toBe('succeeded');
      scores = result.steps.evaluate!.outputs.scores!.digest;
    }
    const graph = await metadata.lineage({ digest: scores }, { direction: 'up' });
    const upstream = reachable(graph, scores, 'up');
    // The graph really is shared: more executions than steps, the case that used to explode.
    expect(graph.executions.length).toBeGreaterThan(4);

    const lines = renderLineage(graph, { digest: scores }).split('\n');
    const body = lines.slice(lines.indexOf('upstream') + 1, lines.indexOf('downstream'));
    expect(body).toHaveLength(upstream.size);
    expect(lines.filter((line) => line.includes('step ingest'))).toHaveLength(
      graph.executions.filter((execution) => execution.step === 'ingest').length,
    );
    await metadata.close?.();
  });
});
