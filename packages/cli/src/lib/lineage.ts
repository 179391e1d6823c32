import type { ArtifactRecord, ExecutionRecord, LineageGraph } from '@cairn/core';
import { shortDigest } from './format';

/**
 * Render a lineage graph as text trees. Around an artifact: its upstream
 * (producers, their inputs, recursively) and its downstream (consumers,
 * their outputs). Around a run: each execution with its inputs and outputs.
 */
export function renderLineage(graph: LineageGraph, target: { digest: string } | { runId: string }): string {
  const artifacts = new Map(graph.artifacts.map((a) => [a.digest, a]));
  const executions = new Map(graph.executions.map((e) => [e.id, e]));
  const art = (digest: string, name?: string) => {
    const a: ArtifactRecord | undefined = artifacts.get(digest);
    return `${name ? `${name} = ` : ''}${a?.type ?? 'artifact'} ${shortDigest(digest)}`;
  };
  const exe = (id: string) => {
    const e: ExecutionRecord | undefined = executions.get(id);
    return e ? `step ${e.step} (${e.status}, run ${e.runId})` : `execution ${id}`;
  };
  const lines: string[] = [];

  // Edges indexed once: scanning every edge for every node is quadratic on a project with many runs.
  const byTo = new Map<string, typeof graph.edges>();
  const byFrom = new Map<string, typeof graph.edges>();
  for (const edge of graph.edges) {
    byTo.set(edge.to, [...(byTo.get(edge.to) ?? []), edge]);
    byFrom.set(edge.from, [...(byFrom.get(edge.from) ?? []), edge]);
  }

  /**
   * Each node is printed once per direction, under the first path that reaches it. Cached runs
   * make many executions share inputs, and a path-local "seen" printed the shared ancestry once
   * per path: millions of lines after a handful of runs.
   */
  const walk = (
    node: string,
    isArtifact: boolean,
    direction: 'up' | 'down',
    prefix: string,
    seen: Set<string>,
  ) => {
    const edges =
      direction === 'up'
        ? (byTo.get(node) ?? []).filter((edge) => edge.kind === (isArtifact ? 'output' : 'input'))
        : (byFrom.get(node) ?? []).filter((edge) => edge.kind === (isArtifact ? 'input' : 'output'));
    const children: Array<{ key: string; name: string | undefined }> = [];
    for (const edge of edges) {
      const key = direction === 'up' ? edge.from : edge.to;
      if (seen.has(key)) continue;
      seen.add(key);
      children.push({ key, name: edge.name });
    }
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      const label = isArtifact ? exe(child.key) : art(child.key, child.name);
      lines.push(
        `${prefix}${last ? '└─ ' : '├─ '}${direction === 'up' ? (isArtifact ? 'from ' : '') : isArtifact ? 'into ' : ''}${label}`,
      );
      walk(child.key, !isArtifact, direction, `${prefix}${last ? '   ' : '│  '}`, seen);
    });
  };

  if ('digest' in target) {
    lines.push(art(target.digest));
    lines.push('upstream');
    walk(target.digest, true, 'up', '  ', new Set([target.digest]));
    lines.push('downstream');
    walk(target.digest, true, 'down', '  ', new Set([target.digest]));
  } else {
    lines.push(`run ${target.runId}`);
    const ofRun = graph.executions.filter((e) => e.runId === target.runId);
    ofRun.forEach((e, i) => {
      const last = i === ofRun.length - 1;
      const prefix = last ? '   ' : '│  ';
      lines.push(`${last ? '└─ ' : '├─ '}step ${e.step} (${e.status})`);
      for (const [name, ref] of Object.entries(e.inputs))
        lines.push(`${prefix}← ${name} = ${ref.type} ${shortDigest(ref.digest)}`);
      for (const [name, ref] of Object.entries(e.outputs))
        lines.push(`${prefix}→ ${name} = ${ref.type} ${shortDigest(ref.digest)}`);
    });
  }
  return lines.join('\n');
}
