/**
 * `cairn plan --format mermaid|dot`: the pipeline graph with each step's
 * cache state. Edges are the artifact wires between steps (labelled with the
 * output's name); a node says whether it would be reused or run, and why.
 */

/** What the renderers need of a plan: its steps, their state, and the wires between them. */
export interface PlanGraph {
  pipeline: string;
  steps: Array<{ step: string; action: 'cached' | 'run'; reason: string }>;
  /** One per wire: producer step, its output, consumer step. */
  edges: Array<{ from: string; output: string; to: string }>;
}

/** The wires between planned steps, from the pipeline's nodes (one edge per producer, output and consumer). */
export function planEdges(
  nodes: ReadonlyArray<{ name: string; inputs: Record<string, { node: string; output: string }> }>,
  planned: ReadonlySet<string>,
): PlanGraph['edges'] {
  const edges: PlanGraph['edges'] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    if (!planned.has(node.name)) continue;
    for (const wire of Object.values(node.inputs)) {
      const key = `${wire.node}\u0000${wire.output}\u0000${node.name}`;
      if (!planned.has(wire.node) || seen.has(key)) continue;
      seen.add(key);
      edges.push({ from: wire.node, output: wire.output, to: node.name });
    }
  }
  return edges;
}

const stateLabel = (step: PlanGraph['steps'][number]) =>
  step.action === 'cached' ? 'cached' : `run: ${step.reason}`;

/**
 * A Mermaid `flowchart`. Node ids are generated (`s0`, `s1`…) because a step
 * name may be a Mermaid keyword (`end`) or hold characters ids cannot; the
 * step name is the quoted label.
 */
export function planMermaid(graph: PlanGraph): string {
  const ids = new Map(graph.steps.map((step, index) => [step.step, `s${index}`]));
  // Mermaid labels are HTML-ish: quotes and angle brackets as entity codes.
  const text = (value: string) =>
    value.replaceAll('"', '#quot;').replaceAll('<', '#lt;').replaceAll('>', '#gt;');
  const lines = ['flowchart LR'];
  for (const step of graph.steps) {
    lines.push(
      `  ${ids.get(step.step)}["${text(step.step)}<br/>${text(stateLabel(step))}"]:::${step.action}`,
    );
  }
  for (const edge of graph.edges) {
    lines.push(`  ${ids.get(edge.from)} -->|"${text(edge.output)}"| ${ids.get(edge.to)}`);
  }
  lines.push('  classDef cached fill:#e3f4e8,stroke:#2f855a,color:#1a202c');
  lines.push('  classDef run fill:#fff4d6,stroke:#b7791f,color:#1a202c');
  return `${lines.join('\n')}\n`;
}

/** A Graphviz `digraph`: steps as boxes, filled by cache state; wires as labelled edges. */
export function planDot(graph: PlanGraph): string {
  const quote = (value: string) =>
    `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
  const fill = { cached: '#e3f4e8', run: '#fff4d6' } as const;
  const lines = [
    `digraph ${quote(graph.pipeline)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const step of graph.steps) {
    lines.push(
      `  ${quote(step.step)} [label=${quote(`${step.step}\n${stateLabel(step)}`)}, fillcolor=${quote(fill[step.action])}, class=${quote(step.action)}];`,
    );
  }
  for (const edge of graph.edges) {
    lines.push(`  ${quote(edge.from)} -> ${quote(edge.to)} [label=${quote(edge.output)}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
