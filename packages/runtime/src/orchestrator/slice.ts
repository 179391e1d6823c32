/**
 * Running a slice of a pipeline (`--from <step>`, `--only <step>,…`): which
 * steps the slice holds, which steps upstream of it it reads, and the
 * upstream results taken from the cache. `runPipeline` and `planPipeline`
 * share it, so the plan refuses exactly what the run would refuse.
 */
import {
  type ArtifactRef,
  type CacheEntry,
  CairnError,
  ErrorCodes,
  type MetadataStore,
  type Pipeline,
  type PipelineNode,
  type StorageDriver,
} from '@cairn/core';
import { cacheKey, decideCache, type PreviousExecutions } from './cache';
import type { PreparedRun } from './prepare';
import type { RunServices } from './services';
import type { VerifiedStamps } from './stamps';

/** Which part of the pipeline to run. */
export interface SliceOptions {
  /** Run this step and everything downstream of it; what it reads comes from the cache. */
  from?: string;
  /** Run exactly these steps; what they read comes from the cache. */
  only?: string[];
}

export interface PipelineSlice {
  /** How the slice was asked for, for messages and the run's tags: `from train`, `only train,evaluate`. */
  label: string;
  /** The steps that run (or are cached) as in a whole run, in pipeline order. */
  steps: PipelineNode[];
  /** The steps the slice reads from, transitively, that are not in it, in pipeline order: taken from the cache only. */
  upstream: PipelineNode[];
}

/** An upstream step's result, reused from the cache. */
export interface UpstreamResult {
  key: string;
  entry: CacheEntry;
  inputs: Record<string, ArtifactRef>;
}

/**
 * The slice `options` asks for, or `undefined` for the whole pipeline.
 * @throws CAIRN_USAGE for `--from` with `--only`, a step name the pipeline
 *   does not have, or `--force` on a step outside the slice
 */
export function sliceOf(
  pipeline: Pipeline,
  options: SliceOptions & { force?: string[] },
): PipelineSlice | undefined {
  const only = options.only?.filter((name) => name.length > 0) ?? [];
  if (options.from === undefined && only.length === 0) return undefined;
  if (options.from !== undefined && only.length > 0)
    throw usage('--from and --only cannot be combined: --from runs a step and everything after it');
  const names = options.from !== undefined ? [options.from] : only;
  const flag = options.from !== undefined ? '--from' : '--only';
  const unknown = names.filter((name) => !pipeline.node(name));
  if (unknown.length > 0) {
    throw usage(
      `${flag} names ${unknown.map((n) => `"${n}"`).join(', ')}, not a step of pipeline "${pipeline.name}" (steps: ${pipeline.nodes
        .map((n) => n.name)
        .join(', ')})`,
    );
  }
  const inSlice = new Set(names);
  if (options.from !== undefined) {
    // Pipeline nodes are in builder order, which is topological: one pass collects every descendant.
    for (const node of pipeline.nodes) {
      if (Object.values(node.inputs).some((wire) => inSlice.has(wire.node))) inSlice.add(node.name);
    }
  }
  const needed = new Set<string>();
  for (const node of [...pipeline.nodes].reverse()) {
    if (!inSlice.has(node.name) && !needed.has(node.name)) continue;
    for (const wire of Object.values(node.inputs)) if (!inSlice.has(wire.node)) needed.add(wire.node);
  }
  const outside = (options.force ?? []).filter((name) => pipeline.node(name) && !inSlice.has(name));
  if (outside.length > 0) {
    throw usage(
      `--force names ${outside.map((n) => `"${n}"`).join(', ')}, outside the slice (${flag} ${names.join(',')}): a step outside it is never run`,
    );
  }
  return {
    label: `${flag.slice(2)} ${names.join(',')}`,
    steps: pipeline.nodes.filter((node) => inSlice.has(node.name)),
    upstream: pipeline.nodes.filter((node) => needed.has(node.name)),
  };
}

/**
 * The cached result of every upstream step of the slice: its cache key is
 * computed as a whole run would compute it (same configs, code and input
 * digests), and the entry must still verify in storage. Reads only.
 * @throws CAIRN_UPSTREAM_NOT_CACHED naming the first upstream step that would have to run
 */
export async function resolveUpstream(
  slice: PipelineSlice,
  prepared: PreparedRun,
  context: {
    storage: StorageDriver;
    metadata: MetadataStore;
    previous: PreviousExecutions;
    tmpDir: string;
    services: RunServices;
    stamps?: VerifiedStamps | undefined;
  },
): Promise<Map<string, UpstreamResult>> {
  const resolved = new Map<string, UpstreamResult>();
  for (const node of slice.upstream) {
    const inputs: Record<string, ArtifactRef> = {};
    for (const [name, wire] of Object.entries(node.inputs)) {
      inputs[name] = resolved.get(wire.node)!.entry.outputs[wire.output]!;
    }
    const key = cacheKey(node, prepared, inputs);
    const decision = await decideCache(node, prepared, key, inputs, context);
    if (!('reuse' in decision)) {
      const why = decision.detail ? `${decision.reason}: ${decision.detail}` : decision.reason;
      throw new CairnError(
        ErrorCodes.UPSTREAM_NOT_CACHED,
        `Step "${node.name}" is upstream of the slice (${slice.label}) and has no cached result to reuse (${why}); nothing ran`,
        {
          hint: `Run the whole pipeline once, or start the slice earlier: --from ${node.name}`,
          context: { step: node.name },
        },
      );
    }
    resolved.set(node.name, { key, entry: decision.reuse, inputs });
  }
  return resolved;
}

function usage(message: string): CairnError {
  return new CairnError(ErrorCodes.USAGE, message);
}
