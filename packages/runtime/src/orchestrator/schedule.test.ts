import type { PipelineNode } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { schedule } from './schedule';

/** A node named `name` wired to `producers` (a name twice is two wires from it). */
const node = (name: string, ...producers: string[]): PipelineNode =>
  ({
    name,
    step: {} as PipelineNode['step'],
    inputs: Object.fromEntries(producers.map((p, i) => [`in${i}`, { node: p, output: 'out', type: 'json' }])),
  }) as PipelineNode;

/** Runs `nodes` through schedule: which ran (in order of start), which were skipped and why. */
async function drive(
  nodes: PipelineNode[],
  options: { limit?: number; fail?: string[]; abortAfter?: string; slice?: boolean } = {},
) {
  const started: string[] = [];
  const skipped: Array<[string, string]> = [];
  const controller = new AbortController();
  let running = 0;
  let most = 0;
  await schedule(
    nodes,
    options.limit ?? 4,
    controller.signal,
    async (n) => {
      started.push(n.name);
      running++;
      most = Math.max(most, running);
      // A real step yields; so does this one, so that several can be running at once.
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (n.name === options.abortAfter) controller.abort();
      return !options.fail?.includes(n.name);
    },
    async (n, reason) => {
      skipped.push([n.name, reason]);
    },
  );
  return { started, skipped, most };
}

describe('schedule', () => {
  it('starts producers before their consumers, at most `limit` at once, each node once', async () => {
    // a → b, a → c (wired twice), b + c → d; e alone.
    const nodes = [node('a'), node('b', 'a'), node('c', 'a', 'a'), node('d', 'b', 'c'), node('e')];
    const { started, skipped, most } = await drive(nodes, { limit: 2 });
    expect([...started].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(started.indexOf('a')).toBeLessThan(started.indexOf('b'));
    expect(started.indexOf('a')).toBeLessThan(started.indexOf('c'));
    expect(started.indexOf('d')).toBeGreaterThan(Math.max(started.indexOf('b'), started.indexOf('c')));
    expect(most).toBe(2);
    expect(skipped).toEqual([]);
  });

  it('skips every descendant of a failed node once, naming it, and runs the rest', async () => {
    const nodes = [node('a'), node('b', 'a'), node('c', 'b', 'b'), node('d', 'b', 'c'), node('e')];
    const { started, skipped } = await drive(nodes, { fail: ['b'] });
    expect([...started].sort()).toEqual(['a', 'b', 'e']);
    expect(skipped.map(([name]) => name).sort()).toEqual(['c', 'd']);
    expect(new Set(skipped.map(([, reason]) => reason))).toEqual(new Set(['b']));
  });

  it('does not wait for a producer outside the slice (its outputs came from the cache)', async () => {
    const { started } = await drive([node('b', 'a'), node('c', 'b')]);
    expect(started).toEqual(['b', 'c']);
  });

  it('skips what has not started once the run is cancelled', async () => {
    const nodes = [node('a'), node('b', 'a'), node('c', 'b')];
    const { started, skipped } = await drive(nodes, { limit: 1, abortAfter: 'a' });
    expect(started).toEqual(['a']);
    expect(skipped).toEqual([
      ['b', 'cancelled'],
      ['c', 'cancelled'],
    ]);
  });
});
