import { fromDot } from 'ts-graphviz';
import { describe, expect, it } from 'vitest';
import { planDot, planEdges, planMermaid } from './plan-graph';

// A step may be named like a Mermaid keyword (`end`); a pipeline name may hold a quote.
const nodes: Array<{ name: string; inputs: Record<string, { node: string; output: string }> }> = [
  { name: 'start', inputs: {} },
  { name: 'end', inputs: { a: { node: 'start', output: 'rows' }, b: { node: 'start', output: 'rows' } } },
  { name: 'other', inputs: { x: { node: 'start', output: 'meta' } } },
];
const graph = {
  pipeline: 'say "hi"',
  steps: [
    { step: 'start', action: 'cached' as const, reason: 'cached' },
    { step: 'end', action: 'run' as const, reason: 'config-changed' },
  ],
  edges: planEdges(nodes, new Set(['start', 'end'])),
};

describe('plan graphs', () => {
  it('keeps one edge per producer, output and consumer, between planned steps only', () => {
    expect(graph.edges).toEqual([{ from: 'start', output: 'rows', to: 'end' }]);
  });

  it('mermaid: generated ids, so a step named "end" is a label and not the keyword', () => {
    const text = planMermaid(graph);
    expect(text).toContain('  s1["end<br/>run: config-changed"]:::run');
    expect(text).toContain('  s0 -->|"rows"| s1');
    expect(text).not.toMatch(/^\s+end\b/m);
  });

  it('dot: quotes escaped, so the digraph parses back with its name and nodes', () => {
    const parsed = fromDot(planDot(graph));
    expect(parsed.id).toBe('say "hi"');
    expect(parsed.nodes.map((n) => n.id)).toEqual(['start', 'end']);
    // `\n` is DOT's own line break inside a label: it stays escaped in the parsed value.
    expect(String(parsed.getNode('end')!.attributes.get('label'))).toBe('end\\nrun: config-changed');
  });
});
