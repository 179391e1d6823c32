import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Compare extends CairnCommand {
  static override summary =
    "Put two runs side by side: every step's config (changed keys marked) and the metrics with deltas";
  static override description =
    'Configs are the resolved configs each run recorded (conf/base, conf/<env>, --set), per step and key; a changed key is marked with *. Metrics are those of every metrics artifact of the runs (e.g. evaluate.macro_f1), with B − A.';
  static override examples = [
    '<%= config.bin %> compare latest~1 latest',
    '<%= config.bin %> compare r_0mwyul89y00008cfa59e5 r_0mwyv2k1a00008cfa59e5 --changed',
    '<%= config.bin %> compare latest~1 latest --json',
  ];
  static override args = {
    runA: Args.string({ description: 'First run (id, unique prefix, latest or latest~N)', required: true }),
    runB: Args.string({ description: 'Second run (id, unique prefix, latest or latest~N)', required: true }),
  };
  static override flags = {
    changed: Flags.boolean({ description: 'Show only the config keys that differ', default: false }),
    json: jsonFlag,
    env: envFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Compare);
    const { withProject } = await import('../lib/inspect');
    const runs = await import('../lib/runs');
    const data = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
      const a = await runs.resolveRun(stack, args.runA);
      const b = await runs.resolveRun(stack, args.runB);
      const [configsA, configsB] = [await runs.runConfigs(stack, a), await runs.runConfigs(stack, b)];
      const [metricsA, metricsB] = [await runs.runMetrics(stack, a), await runs.runMetrics(stack, b)];
      const configs: Array<{ step: string; key: string; a: unknown; b: unknown; changed: boolean }> = [];
      for (const step of [...new Set([...Object.keys(configsA), ...Object.keys(configsB)])]) {
        const fa = runs.flattenConfig(configsA[step]);
        const fb = runs.flattenConfig(configsB[step]);
        for (const key of [...new Set([...Object.keys(fa), ...Object.keys(fb)])]) {
          const changed = JSON.stringify(fa[key]) !== JSON.stringify(fb[key]);
          configs.push({ step, key, a: fa[key], b: fb[key], changed });
        }
      }
      const metrics = [...new Set([...Object.keys(metricsA), ...Object.keys(metricsB)])].map((name) => {
        const va = metricsA[name];
        const vb = metricsB[name];
        return {
          name,
          a: va ?? null,
          b: vb ?? null,
          delta: va !== undefined && vb !== undefined ? vb - va : null,
        };
      });
      const about = (r: typeof a) => ({
        id: r.id,
        pipeline: r.pipeline,
        env: r.env,
        status: r.status,
        startedAt: r.startedAt,
        git: r.git ?? null,
      });
      return { a: about(a), b: about(b), configs, metrics };
    });
    if (flags.json) return this.printJson(data);
    const { table } = await import('../lib/format');
    const pc = (await import('picocolors')).default;
    const { formatValue } = runs;
    this.log(
      `A ${data.a.id}  ${data.a.pipeline} · env ${data.a.env} · ${data.a.status} · ${data.a.startedAt}`,
    );
    this.log(
      `B ${data.b.id}  ${data.b.pipeline} · env ${data.b.env} · ${data.b.status} · ${data.b.startedAt}`,
    );
    const changedCount = data.configs.filter((c) => c.changed).length;
    this.log(`\nConfigs (${changedCount} changed key${changedCount === 1 ? '' : 's'}, marked *)`);
    const shown = data.configs.filter((c) => c.changed || !flags.changed);
    this.log(
      shown.length === 0
        ? '  (no differences)'
        : table(
            ['', 'STEP', 'KEY', 'A', 'B'],
            shown.map((c) => [
              c.changed ? pc.yellow('*') : ' ',
              c.step,
              c.key,
              formatValue(c.a),
              c.changed ? pc.bold(formatValue(c.b)) : formatValue(c.b),
            ]),
          ),
    );
    this.log('\nMetrics');
    this.log(
      data.metrics.length === 0
        ? '  (no metrics recorded)'
        : table(
            ['METRIC', 'A', 'B', 'Δ (B − A)'],
            data.metrics.map((m) => [
              m.name,
              formatValue(m.a ?? undefined),
              formatValue(m.b ?? undefined),
              m.delta === null ? '—' : `${m.delta > 0 ? '+' : ''}${formatValue(m.delta)}`,
            ]),
          ),
    );
  }
}
