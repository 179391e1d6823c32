import { type PipelineNode, wiring } from '@cairn/core';

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
  // A producer outside `nodes` is not waited for; a node wired twice to a producer is freed by the second.
  const { waiting, consumers } = wiring(nodes);
  const ready = nodes.flatMap((_, i) => (waiting[i] === 0 ? [i] : []));
  const done = new Uint8Array(nodes.length);
  let running = 0;
  let readyIndex = 0;

  const skipTree = async (from: number, reason: string) => {
    const stack = [...consumers[from]!];
    while (stack.length > 0) {
      const at = stack.pop()!;
      if (done[at]) continue;
      done[at] = 1;
      await skipNode(nodes[at]!, reason);
      stack.push(...consumers[at]!);
    }
  };

  await new Promise<void>((resolveAll, rejectAll) => {
    let failure: unknown;
    /** A node and whatever it skipped are done: start what is ready (or end, after a failure). */
    const finished = () => {
      running--;
      if (failure !== undefined) {
        if (running === 0) rejectAll(failure);
        return;
      }
      pump();
    };
    const failed = (error: unknown) => {
      failure = error;
      finished();
    };
    const pump = () => {
      if (failure !== undefined) return;
      while (running < limit && readyIndex < ready.length && !signal.aborted) {
        const at = ready[readyIndex++]!;
        const node = nodes[at]!;
        running++;
        // One then() per node on the way that succeeds (a cached rerun: every node): async handlers,
        // catch() and finally() made six promises more per node.
        runNode(node).then((ok) => {
          done[at] = 1;
          if (ok) {
            for (const consumer of consumers[at]!) {
              if (--waiting[consumer]! === 0 && !done[consumer]) ready.push(consumer);
            }
            finished();
          } else {
            skipTree(at, signal.aborted ? 'cancelled' : node.name).then(finished, failed);
          }
        }, failed);
      }
      if (running === 0) {
        if (signal.aborted) {
          void (async () => {
            for (let i = 0; i < nodes.length; i++) {
              if (!done[i]) {
                done[i] = 1;
                await skipNode(nodes[i]!, 'cancelled');
              }
            }
          })().then(resolveAll, rejectAll);
        } else resolveAll();
      }
    };
    pump();
  });
}
