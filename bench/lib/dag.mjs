/**
 * The synthetic pipeline of the orchestration benchmarks: a layered DAG of
 * width 10. First-layer steps turn their config into a small json artifact;
 * every later step reads two parents of the previous layer (same column and
 * the next one; the last column reads the one before) and writes a json artifact derived from both and its config.
 *
 * Worker threads load steps by module path, so each size gets a tiny
 * generated module (see `dagModule`) that calls `makeDag` with that size.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { json, pipeline, step } from '@cairn/core';

export const WIDTH = 10;

/** A Standard Schema that accepts any config: the benchmark measures the framework, not a validator. */
const anyConfig = {
  '~standard': { version: 1, vendor: 'cairn-bench', validate: (value) => ({ value }) },
};

export const source = step({
  name: 'source',
  config: anyConfig,
  outputs: { out: json() },
  run: ({ config }) => ({ out: { v: derive('', '', config.seed) } }),
});

export const combine = step({
  name: 'combine',
  config: anyConfig,
  inputs: { a: json(), b: json() },
  outputs: { out: json() },
  run: ({ config, inputs }) => ({ out: { v: derive(inputs.a.v, inputs.b.v, config.seed) } }),
});

/** What each step computes; the floor calls the same function. */
export function derive(a, b, seed) {
  return createHash('sha256').update(`${a}|${b}|${seed}`).digest('hex');
}

export const nodeName = (index) => `s${Math.floor(index / WIDTH)}_${index % WIDTH}`;

/** Parents of node `index` (none in the first layer). */
export function parents(index) {
  if (index < WIDTH) return [];
  const layer = Math.floor(index / WIDTH);
  const column = index % WIDTH;
  const base = (layer - 1) * WIDTH;
  // The last column reads its left neighbour rather than wrapping to column 0,
  // so changing s0_0 re-runs one step per layer (about N/10), not nearly all.
  return [base + column, base + (column + 1 < WIDTH ? column + 1 : column - 1)];
}

/** Build the N-step pipeline (N need not be a multiple of 10: the last layer is partial). */
export function makeDag(size, module) {
  return pipeline(
    `dag-${size}`,
    () => {
      const outs = [];
      for (let i = 0; i < size; i++) {
        const [a, b] = parents(i);
        const handles =
          a === undefined
            ? source(undefined, { as: nodeName(i) })
            : combine({ a: outs[a], b: outs[b] }, { as: nodeName(i) });
        outs.push(handles.out);
      }
    },
    { module },
  );
}

/** Inline step configs: `{ seed }` per node; `changed` gives s0_0 another seed. */
export function dagConfigs(size, changed = false) {
  const configs = {};
  for (let i = 0; i < size; i++) configs[nodeName(i)] = { seed: i };
  if (changed) configs[nodeName(0)] = { seed: -1 };
  return configs;
}

/** Names of node 0 and everything downstream of it. */
export function changedSet(size) {
  const set = new Set([0]);
  for (let i = WIDTH; i < size; i++) {
    if (parents(i).some((p) => set.has(p))) set.add(i);
  }
  return new Set([...set].map(nodeName));
}

/** Write a module exporting the N-step pipeline, so worker threads can load it by path. */
export async function dagModule(dir, size) {
  const path = join(dir, `dag-${size}.mjs`);
  const lib = pathToFileURL(new URL(import.meta.url).pathname).href;
  await writeFile(
    path,
    `import { makeDag } from ${JSON.stringify(lib)};\nexport const dag = makeDag(${size}, import.meta.url);\n`,
  );
  return path;
}
