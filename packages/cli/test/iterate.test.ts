import { join } from 'node:path';
import { fromDot } from 'ts-graphviz';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, TEMPLATE_TRAINING_STEPS, tempDir } from './helpers';

// Iterating on a scaffolded project: a slice of the pipeline (--from, --only),
// the pipeline drawn (plan --format mermaid|dot), sweeps and compare.
describe('iterating on a project made with cairn new --link', () => {
  let dir: string;
  const runs = async () =>
    JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as Array<{
      id: string;
      tags?: Record<string, string>;
    }>;
  const events = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; step?: string; steps?: string[] });
  const stepsOf = (list: ReturnType<typeof events>, type: string) =>
    list
      .filter((e) => e.type === type)
      .map((e) => e.step!)
      .sort();

  beforeAll(async () => {
    const cwd = await tempDir('iterate');
    const made = await cairn(['new', 'iter-proj', '--link', '--no-git'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'iter-proj');
    const first = await cairn(['run'], dir);
    expect(first.code, first.stderr + first.stdout).toBe(0);
  });

  it('--from train re-runs train and what follows it, reading ingest, validate and prepare from the cache', async () => {
    const result = await cairn(['run', '--from', 'train', '--set', 'train.trees=20', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const list = events(result.stdout);
    expect(stepsOf(list, 'step.cached')).toContain('ingest');
    expect(stepsOf(list, 'step.cached')).toContain('prepare');
    expect(stepsOf(list, 'step.succeeded')).toContain('train');
    expect(stepsOf(list, 'step.succeeded')).toContain('evaluate');
    expect(
      list.some((e) => e.type === 'step.started' && ['ingest', 'validate', 'prepare'].includes(e.step!)),
    ).toBe(false);
    expect((await runs())[0]!.tags).toMatchObject({ slice: 'from train' });
  });

  it('--only runs exactly the named steps; plan --only lists the slice and what it reads', async () => {
    const result = await cairn(['run', '--only', 'train,evaluate', '--set', 'train.trees=21', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const list = events(result.stdout);
    expect(stepsOf(list, 'step.succeeded')).toEqual(['evaluate', 'train']);
    expect(list[0]!.steps!.sort()).toEqual(['evaluate', 'ingest', 'prepare', 'train', 'validate']);

    const plan = await cairn(['plan', '--only', 'evaluate', '--set', 'train.trees=21'], dir);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/Plan for training \(env local, only evaluate\)/);
    expect(plan.stdout).not.toMatch(/\bregister\b/);
  });

  it('refuses a slice whose upstream is not cached, naming the step, with exit 2 and no run recorded', async () => {
    const before = (await runs()).length;
    const result = await cairn(['run', '--from', 'train', '--set', 'prepare.testFraction=0.31'], dir);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stderr).toMatch(/Step "prepare" is upstream of the slice \(from train\)/);
    expect(result.stderr).toContain('CAIRN_UPSTREAM_NOT_CACHED');
    const plan = await cairn(['plan', '--from', 'train', '--set', 'prepare.testFraction=0.31'], dir);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/Step "prepare"/);
    const unknown = await cairn(['run', '--only', 'trian'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--only names "trian", not a step of pipeline "training"/);
    expect((await runs()).length).toBe(before);
  });

  describe('plan --format', () => {
    let planned: Array<{ step: string; action: string; dependsOn: string[] }>;
    beforeAll(async () => {
      const json = await cairn(['plan', '--format', 'json', '--set', 'train.trees=33'], dir);
      expect(json.code, json.stderr).toBe(0);
      planned = JSON.parse(json.stdout).steps;
      expect(planned.map((s) => s.step).sort()).toEqual([...TEMPLATE_TRAINING_STEPS].sort());
    });
    const dependencies = () => planned.flatMap((s) => s.dependsOn.map((from) => `${from}->${s.step}`)).sort();

    it('dot: a digraph that parses, with one node per step (filled by cache state) and an edge per dependency', async () => {
      const result = await cairn(['plan', '--format', 'dot', '--set', 'train.trees=33'], dir);
      expect(result.code, result.stderr).toBe(0);
      const graph = fromDot(result.stdout);
      expect(graph.directed).toBe(true);
      expect(graph.id).toBe('training');
      expect(graph.nodes.map((n) => n.id).sort()).toEqual(planned.map((s) => s.step).sort());
      for (const step of planned) {
        const node = graph.getNode(step.step)!;
        expect(String(node.attributes.get('class'))).toBe(step.action);
        expect(String(node.attributes.get('label'))).toMatch(step.action === 'cached' ? /cached$/ : /run: /);
      }
      const edges = graph.edges.map((e) => {
        const [from, to] = e.targets as Array<{ id: string }>;
        return `${from!.id}->${to!.id}`;
      });
      expect([...new Set(edges)].sort()).toEqual(dependencies());
      // train reads three outputs of prepare: one labelled edge each.
      const fromPrepare = graph.edges.filter((e) => {
        const [from, to] = e.targets as Array<{ id: string }>;
        return from!.id === 'prepare' && to!.id === 'train';
      });
      expect(fromPrepare.map((e) => String(e.attributes.get('label'))).sort()).toEqual([
        'preprocessor',
        'spec',
        'train',
      ]);
    });

    it('mermaid: a flowchart whose nodes are every step with its state and whose edges are every dependency', async () => {
      const result = await cairn(['plan', '--format', 'mermaid', '--set', 'train.trees=33'], dir);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('flowchart LR');
      const nodes = new Map<string, { name: string; state: string; cls: string }>();
      const edges: string[] = [];
      for (const line of lines.slice(1)) {
        const node = /^ {2}(s\d+)\["([^"<]+)<br\/>([^"]+)"\]:::(cached|run)$/.exec(line);
        const edge = /^ {2}(s\d+) -->\|"([^"]+)"\| (s\d+)$/.exec(line);
        const style = /^ {2}classDef (cached|run) /.exec(line);
        expect(node ?? edge ?? style, `unexpected line: ${line}`).not.toBeNull();
        if (node) nodes.set(node[1]!, { name: node[2]!, state: node[3]!, cls: node[4]! });
        if (edge) {
          expect(nodes.has(edge[1]!) && nodes.has(edge[3]!), line).toBe(true);
          edges.push(`${nodes.get(edge[1]!)!.name}->${nodes.get(edge[3]!)!.name}`);
        }
      }
      expect([...nodes.values()].map((n) => n.name).sort()).toEqual(planned.map((s) => s.step).sort());
      for (const node of nodes.values()) {
        const step = planned.find((s) => s.step === node.name)!;
        expect(node.cls).toBe(step.action);
      }
      expect([...new Set(edges)].sort()).toEqual(dependencies());
      expect(nodes.size).toBe(TEMPLATE_TRAINING_STEPS.length);
    });

    it('refuses an unknown format with exit 2', async () => {
      const result = await cairn(['plan', '--format', 'svg'], dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/svg/);
    });
  });

  it('--sweep runs the grid, tagged with one sweep id, and prints the runs with their values and metrics; compare takes them all', async () => {
    const before = (await runs()).length;
    const result = await cairn(
      [
        'run',
        '--sweep',
        'train.trees=3,30',
        '--sweep',
        'train.maxDepth=2,6',
        '--set',
        'evaluate.minMacroF1=0',
      ],
      dir,
    );
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const after = await runs();
    expect(after.length - before).toBe(4);
    const swept = after.slice(0, 4);
    const sweepId = swept[0]!.tags!.sweep!;
    expect(sweepId).toMatch(/^s_/);
    expect(swept.every((r) => r.tags!.sweep === sweepId)).toBe(true);
    expect(swept.map((r) => r.tags!.params).sort()).toEqual([
      'train.trees=3 train.maxDepth=2',
      'train.trees=3 train.maxDepth=6',
      'train.trees=30 train.maxDepth=2',
      'train.trees=30 train.maxDepth=6',
    ]);
    expect(result.stdout).toContain(`Sweep ${sweepId}: 4 runs`);
    const header = result.stdout.split('\n').find((line) => line.startsWith('RUN'))!;
    expect(header).toMatch(/train\.trees\s+train\.maxDepth\s+.*evaluate\.macro_f1/);
    for (const run of swept)
      expect(result.stdout).toMatch(new RegExp(`${run.id}\\s+succeeded\\s+\\d+\\s+\\d\\s+`));
    // ingest, validate and prepare are not reached by a swept key: reused from the cache; train ran once per point.
    const executed = new Map<string, number>();
    for (const run of swept) {
      const shown = JSON.parse((await cairn(['runs', 'show', run.id, '--json'], dir)).stdout);
      for (const e of shown.executions as Array<{ step: string; status: string }>)
        if (e.status === 'succeeded') executed.set(e.step, (executed.get(e.step) ?? 0) + 1);
    }
    expect([executed.get('ingest'), executed.get('validate'), executed.get('prepare')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(executed.get('train')).toBe(4);

    const compare = await cairn(['compare', ...swept.map((r) => r.id), '--json'], dir);
    expect(compare.code, compare.stderr).toBe(0);
    const data = JSON.parse(compare.stdout);
    expect(data.runs).toHaveLength(4);
    expect(
      data.configs
        .filter((c: any) => c.changed)
        .map((c: any) => c.key)
        .sort(),
    ).toEqual(['maxDepth', 'trees']);
    // Best first by the gate's metric (macro_f1, higher is better).
    expect(data.sortedBy).toEqual({ metric: 'evaluate.macro_f1', direction: 'higher' });
    const f1 = data.metrics.find((m: any) => m.name === 'evaluate.macro_f1').values as number[];
    expect([...f1].sort((a, b) => b - a)).toEqual(f1);
    const text = await cairn(['compare', ...swept.map((r) => r.id)], dir);
    expect(text.stdout).toMatch(/^\s+STEP\s+KEY\s+A\s+B\s+C\s+D$/m);
    expect(text.stdout).not.toMatch(/\bseed\b/);
  });

  it('refuses a bad sweep with exit 2 before any run: unknown key, wrong type, malformed flag', async () => {
    const before = (await runs()).length;
    const unknown = await cairn(['run', '--sweep', 'train.tress=3,30'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/tress: unknown key/);
    const wrongType = await cairn(['run', '--sweep', 'train.trees=3,many'], dir);
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('CAIRN_CONFIG_INVALID');
    const malformed = await cairn(['run', '--sweep', 'train.trees'], dir);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/expected step\.key=value1,value2/);
    expect((await runs()).length).toBe(before);
  });
});
