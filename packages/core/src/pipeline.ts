import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactMap, ArtifactType } from './contracts/artifact';
import { CairnError, ErrorCodes, type ErrorIssue, formatIssues } from './errors';
import type { AnyStep, StepCallOptions } from './step';

const HANDLE = Symbol.for('cairn.handle');
const PIPELINE = Symbol.for('cairn.pipeline');

/**
 * A typed reference to one output of one step inside a pipeline builder.
 * `T` and `Name` come from the output's artifact type, so passing a handle to
 * an input of another type does not compile.
 */
export interface Handle<T, Name extends string> {
  readonly kind: 'handle';
  readonly node: string;
  readonly output: string;
  readonly type: ArtifactType<T, Name>;
  readonly [HANDLE]: true;
}

/** Handles for a map of artifact types. */
export type HandlesOf<M extends ArtifactMap> = {
  [K in keyof M]: M[K] extends ArtifactType<infer T, infer N> ? Handle<T, N> : never;
};

/** Where an input comes from: another node's output. */
export interface Wire {
  node: string;
  output: string;
  /** Artifact type name the producer declares. */
  type: string;
}

/** One step in a pipeline: a node name, the step, and where each input comes from. */
export interface PipelineNode {
  name: string;
  step: AnyStep;
  inputs: Record<string, Wire>;
}

/** A validated DAG of steps. */
export interface Pipeline {
  readonly kind: 'pipeline';
  readonly name: string;
  readonly description?: string;
  /** Nodes in a topological order (producers before consumers; ties in call order). */
  readonly nodes: readonly PipelineNode[];
  /** The module that defines the pipeline (absolute path), so workers can load it. */
  readonly module?: string;
  /** Look a node up by name. */
  node(name: string): PipelineNode | undefined;
  /** Names of the nodes that consume outputs of `name`, directly or not. */
  descendants(name: string): Set<string>;
  readonly [PIPELINE]: true;
}

export function isPipeline(value: unknown): value is Pipeline {
  return typeof value === 'object' && value !== null && (value as any)[PIPELINE] === true;
}

export function isHandle(value: unknown): value is Handle<unknown, string> {
  return typeof value === 'object' && value !== null && (value as any)[HANDLE] === true;
}

/** The builder steps talk to while `pipeline(...)` runs its function. */
export interface PipelineBuilder {
  addNode(
    step: AnyStep,
    inputs: Record<string, unknown>,
    options?: StepCallOptions,
  ): Record<string, Handle<any, string>>;
}

let activeBuilder: PipelineBuilder | undefined;

/** @internal the builder of the pipeline being defined, if any. */
export function currentBuilder(): PipelineBuilder | undefined {
  return activeBuilder;
}

export interface PipelineOptions {
  description?: string;
  /**
   * The defining module (`import.meta.url` or a path). Found from the call
   * stack when omitted; set it when a bundler rewrites stacks.
   */
  module?: string;
}

/**
 * Define a pipeline by calling steps: each call returns typed handles of the
 * step's outputs, which you pass to later steps.
 *
 * @example
 * ```ts
 * export default pipeline('training', () => {
 *   const { data } = ingest();
 *   const { train: trainSet, test } = prepare({ data });
 *   const { model } = train({ train: trainSet });
 *   evaluate({ model, test });
 * });
 * ```
 */
export function pipeline(name: string, build: () => void, options: PipelineOptions = {}): Pipeline {
  const module = options.module ? toPath(options.module) : callerModules()[0];
  const nodes: PipelineNode[] = [];
  const issues: ErrorIssue[] = [];
  const declared = new Map<string, PipelineNode>();

  const builder: PipelineBuilder = {
    addNode(step, inputs, callOptions) {
      const definition = step.definition;
      const nodeName = callOptions?.as ?? definition.name;
      if (declared.has(nodeName)) {
        issues.push({
          source: nodeName,
          message: `duplicate step name "${nodeName}"; call it with { as: "another-name" } to use a step twice`,
        });
      }
      const wires: Record<string, Wire> = {};
      const expected = (definition.inputs ?? {}) as ArtifactMap;
      for (const [inputName, type] of Object.entries(expected)) {
        const value = inputs[inputName];
        if (value === undefined) {
          issues.push({
            source: nodeName,
            path: ['inputs', inputName],
            message: `missing input (expects ${type.name})`,
          });
          continue;
        }
        if (!isHandle(value)) {
          issues.push({
            source: nodeName,
            path: ['inputs', inputName],
            message: 'expected a handle returned by another step in this pipeline',
          });
          continue;
        }
        if (value.type.name !== type.name) {
          issues.push({
            source: nodeName,
            path: ['inputs', inputName],
            message: `type mismatch: "${value.node}.${value.output}" is ${value.type.name}, the input expects ${type.name}`,
          });
        }
        wires[inputName] = { node: value.node, output: value.output, type: value.type.name };
      }
      for (const extra of Object.keys(inputs)) {
        if (!(extra in expected)) {
          issues.push({
            source: nodeName,
            path: ['inputs', extra],
            message: 'unknown input: the step does not declare it',
          });
        }
      }
      const node: PipelineNode = { name: nodeName, step, inputs: wires };
      if (!declared.has(nodeName)) declared.set(nodeName, node);
      nodes.push(node);
      const handles: Record<string, Handle<any, string>> = {};
      for (const [output, type] of Object.entries(definition.outputs as ArtifactMap)) {
        handles[output] = Object.freeze({
          kind: 'handle',
          node: nodeName,
          output,
          type,
          [HANDLE]: true,
        }) as Handle<any, string>;
      }
      return handles;
    },
  };

  const previous = activeBuilder;
  activeBuilder = builder;
  try {
    build();
  } finally {
    activeBuilder = previous;
  }
  return createPipeline(name, nodes, { ...options, ...(module ? { module } : {}) }, issues);
}

function createPipeline(
  name: string,
  nodes: PipelineNode[],
  options: PipelineOptions,
  issues: ErrorIssue[],
): Pipeline {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]{0,63}$/i.test(name)) {
    issues.unshift({
      source: String(name),
      message: 'pipeline name must start with a letter and use letters, digits, "_" or "-"',
    });
  }
  if (nodes.length === 0) issues.push({ source: name, message: 'the pipeline has no steps' });
  const unique = new Map<string, PipelineNode>();
  for (const node of nodes) if (!unique.has(node.name)) unique.set(node.name, node);
  const order = issues.length === 0 ? topologicalOrder([...unique.values()], issues) : [...unique.values()];
  if (issues.length > 0) {
    throw new CairnError(
      ErrorCodes.PIPELINE_INVALID,
      `Pipeline "${name}" is invalid:\n${formatIssues(issues)}`,
      {
        issues,
      },
    );
  }
  /** Wired on the first descendants(): most processes never ask. */
  let wired: (ReturnType<typeof wiring> & { at: Map<string, number> }) | undefined;
  const pipelineObject: Pipeline = {
    kind: 'pipeline',
    name,
    ...(options.description ? { description: options.description } : {}),
    nodes: order,
    ...(options.module ? { module: toPath(options.module) } : {}),
    node: (nodeName) => unique.get(nodeName),
    descendants(nodeName) {
      wired ??= { ...wiring(order), at: new Map(order.map((node, i) => [node.name, i])) };
      const out = new Set<string>();
      const stack = [...(wired.consumers[wired.at.get(nodeName) ?? -1] ?? [])];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (out.has(order[next]!.name)) continue;
        out.add(order[next]!.name);
        stack.push(...wired.consumers[next]!);
      }
      return out;
    },
    [PIPELINE]: true,
  };
  return Object.freeze(pipelineObject);
}

/**
 * The wires of `nodes` on indices: how many each waits for, and each one's consumers, one entry per
 * wire; a producer outside `nodes` is left out. Not Maps by name and a Set per node: pipelines are
 * built and scheduled once per process, in code V8 has not optimized yet (1,000 steps: 6-10 ms).
 */
export function wiring(nodes: readonly PipelineNode[]): { waiting: Int32Array; consumers: number[][] } {
  const index = new Map<string, number>();
  for (let i = 0; i < nodes.length; i++) index.set(nodes[i]!.name, i);
  const waiting = new Int32Array(nodes.length);
  const consumers: number[][] = nodes.map(() => []);
  for (let i = 0; i < nodes.length; i++) {
    for (const input in nodes[i]!.inputs) {
      const producer = index.get(nodes[i]!.inputs[input]!.node);
      if (producer === undefined) continue;
      waiting[i]!++;
      consumers[producer]!.push(i);
    }
  }
  return { waiting, consumers };
}

/** Kahn's algorithm, stable in declaration order; reports a cycle with its members. */
function topologicalOrder(nodes: PipelineNode[], issues: ErrorIssue[]): PipelineNode[] {
  const { waiting: indegree, consumers } = wiring(nodes);
  const ready = nodes.flatMap((_, i) => (indegree[i] === 0 ? [i] : []));
  const order: PipelineNode[] = [];
  for (let head = 0; head < ready.length; head++) {
    order.push(nodes[ready[head]!]!);
    for (const consumer of consumers[ready[head]!]!) if (--indegree[consumer]! === 0) ready.push(consumer);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((n) => !order.includes(n)).map((n) => n.name);
    issues.push({
      source: stuck.join(', '),
      message: `cycle: these steps depend on each other (${stuck.join(' → ')})`,
    });
  }
  return order;
}

function toPath(module: string): string {
  return module.startsWith('file:') ? fileURLToPath(module) : module;
}

/**
 * The module files on the call stack outside the core, innermost first: the
 * first called `pipeline()` or `step()`; a step factory is followed by its callers.
 */
export function callerModules(): string[] {
  const stack = new Error().stack?.split('\n') ?? [];
  const core = import.meta.url ? dirname(toPath(import.meta.url)) : '';
  const files: string[] = [];
  // `at async …` frames are the chain of importers awaiting this module, not callers: who imported a module is not its code.
  for (const line of stack.slice(1).filter((frame) => !frame.trim().startsWith('at async '))) {
    // Node's own frame (a module loader, the microtask queue): beyond it are importers, not callers.
    if (line.includes('node:internal/')) break;
    const match = /\(?((?:file:\/\/)?\/[^():]+?\.[cm]?[jt]sx?)(?::\d+){0,2}\)?\s*$/.exec(line.trim());
    const file = match?.[1] ? toPath(match[1]) : undefined;
    const inCore = file && dirname(file) === core && !/\.test\.[cm]?[jt]sx?$/.test(file);
    if (file && !inCore && !files.includes(file)) files.push(file);
  }
  return files;
}
