import type { PipelineNode } from '@cairn/core';

/**
 * Drive the DAG: start every node whose producers all succeeded, at most
 * `limit` at once, in topological order. A node whose producer failed (or a
 * run that was cancelled) is skipped with its descendants. O(nodes + edges).
 * `nodes` may be a slice of the pipeline: a producer outside it counts as
 * done (its outputs were taken from the cache).
 */
export async function schedule(
  nodes: readonly PipelineNode[],
  limit: number,
  signal: AbortSignal,
  runNode: (node: PipelineNode) => Promise<boolean>,
  skipNode: (node: PipelineNode, reason: string) => Promise<void>,
): Promise<void> {
  const waiting = new Map<string, number>();
  const consumers = new Map<string, PipelineNode[]>();
  const scheduled = new Set(nodes.map((node) => node.name));
  for (const node of nodes) {
    const producers = new Set(
      Object.values(node.inputs)
        .map((wire) => wire.node)
        .filter((name) => scheduled.has(name)),
    );
    waiting.set(node.name, producers.size);
    for (const producer of producers) {
      const list = consumers.get(producer) ?? [];
      list.push(node);
      consumers.set(producer, list);
    }
  }
  const ready: PipelineNode[] = nodes.filter((node) => waiting.get(node.name) === 0);
  const done = new Set<string>();
  let running = 0;
  let readyIndex = 0;

  const skipTree = async (from: PipelineNode, reason: string) => {
    const stack = [...(consumers.get(from.name) ?? [])];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (done.has(node.name)) continue;
      done.add(node.name);
      await skipNode(node, reason);
      stack.push(...(consumers.get(node.name) ?? []));
    }
  };

  await new Promise<void>((resolveAll, rejectAll) => {
    let failure: unknown;
    const pump = () => {
      if (failure !== undefined) return;
      while (running < limit && readyIndex < ready.length && !signal.aborted) {
        const node = ready[readyIndex++]!;
        running++;
        runNode(node)
          .then(async (ok) => {
            done.add(node.name);
            if (ok) {
              for (const consumer of consumers.get(node.name) ?? []) {
                const left = waiting.get(consumer.name)! - 1;
                waiting.set(consumer.name, left);
                if (left === 0 && !done.has(consumer.name)) ready.push(consumer);
              }
            } else {
              await skipTree(node, signal.aborted ? 'cancelled' : node.name);
            }
          })
          .catch((error) => {
            failure = error;
          })
          .finally(() => {
            running--;
            if (failure !== undefined) {
              if (running === 0) rejectAll(failure);
              return;
            }
            pump();
          });
      }
      if (running === 0) {
        if (signal.aborted) {
          void (async () => {
            for (const node of nodes) {
              if (!done.has(node.name)) {
                done.add(node.name);
                await skipNode(node, 'cancelled');
              }
            }
          })().then(resolveAll, rejectAll);
        } else resolveAll();
      }
    };
    pump();
  });
}
