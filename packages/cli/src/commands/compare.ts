import { Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';
import { usageError } from '../lib/errors';

export default class Compare extends CairnCommand {
  static override summary =
    'Put runs side by side: the config keys that differ between them, and their metrics, best first';
  static override description =
    "Takes two or more runs (ids, unique prefixes, latest, latest~N). Configs are the resolved configs each run recorded (conf/base, conf/<env>, --set), per step and key; only keys whose value differs between the runs are shown (--all shows every key). Metrics are those of every metrics artifact of the runs (e.g. evaluate.macro_f1). Runs are ordered best first by --by (default: the gate's metric and direction from the runs' recorded gate config), and with two runs a Δ column gives B − A.";
  static override examples = [
    '<%= config.bin %> compare latest~1 latest',
    '<%= config.bin %> compare r_0mwyul89y00008cfa59e5 r_0mwyv2k1a00008cfa59e5 r_0mwyv4q2c00008cfa59e5',
    '<%= config.bin %> compare latest~3 latest~2 latest~1 latest --by evaluate.rmse --lower',
    '<%= config.bin %> compare latest~1 latest --json',
  ];
  // Any number of runs.
  static override strict = false;
  static override flags = {
    all: Flags.boolean({ description: 'Show every config key, not only those that differ', default: false }),
    changed: Flags.boolean({
      description: 'Show only the config keys that differ (the default)',
      default: false,
      hidden: true,
    }),
    by: Flags.string({ description: 'Order the runs best first by this metric (e.g. evaluate.macro_f1)' }),
    lower: Flags.boolean({ description: 'With --by: lower is better', default: false }),
    json: jsonFlag,
    env: envFlag,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Compare);
    const values = argv as string[];
    if (values.length < 2)
      throw usageError(`compare takes at least two runs, got ${values.length}`, {
        hint: 'e.g. cairn compare latest~1 latest',
      });
    const { withProject } = await import('../lib/inspect');
    const runs = await import('../lib/runs');
    const data = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
      const records = [];
      for (const value of values) records.push(await runs.resolveRun(stack, value));
      const loaded: Array<{
        record: (typeof records)[number];
        configs: Record<string, unknown>;
        metrics: Record<string, number>;
      }> = [];
      for (const record of records) {
        loaded.push({
          record,
          configs: await runs.runConfigs(stack, record),
          metrics: await runs.runMetrics(stack, record),
        });
      }
      const sort = sortKey(loaded, flags.by, flags.lower);
      if (sort) {
        const score = (m: Record<string, number>) => m[sort.metric];
        loaded.sort((x, y) => {
          const a = score(x.metrics);
          const b = score(y.metrics);
          if (a === undefined || b === undefined) return a === undefined ? (b === undefined ? 0 : 1) : -1;
          return sort.direction === 'higher' ? b - a : a - b;
        });
      }
      const configs: Array<{ step: string; key: string; values: unknown[]; changed: boolean }> = [];
      const steps = [...new Set(loaded.flatMap((run) => Object.keys(run.configs)))];
      for (const step of steps) {
        const flat = loaded.map((run) => runs.flattenConfig(run.configs[step]));
        for (const key of [...new Set(flat.flatMap((f) => Object.keys(f)))]) {
          const column = flat.map((f) => f[key]);
          const changed = new Set(column.map((v) => JSON.stringify(v))).size > 1;
          configs.push({ step, key, values: column, changed });
        }
      }
      const metrics = [...new Set(loaded.flatMap((run) => Object.keys(run.metrics)))].map((name) => ({
        name,
        values: loaded.map((run) => run.metrics[name] ?? null),
      }));
      return {
        runs: loaded.map(({ record: r }) => ({
          id: r.id,
          pipeline: r.pipeline,
          env: r.env,
          status: r.status,
          startedAt: r.startedAt,
          git: r.git ?? null,
          tags: r.tags ?? {},
        })),
        sortedBy: sort ?? null,
        configs,
        metrics,
      };
    });
    if (flags.json) return this.printJson(data);
    const { table } = await import('../lib/format');
    const pc = (await import('picocolors')).default;
    const { formatValue } = runs;
    const label = (index: number) =>
      data.runs.length <= 26 ? String.fromCharCode(65 + index) : `#${index + 1}`;
    for (const [index, run] of data.runs.entries())
      this.log(
        `${label(index)} ${run.id}  ${run.pipeline} · env ${run.env} · ${run.status} · ${run.startedAt}`,
      );
    if (data.sortedBy)
      this.log(`Best first by ${data.sortedBy.metric} (${data.sortedBy.direction} is better)`);
    const changedCount = data.configs.filter((c) => c.changed).length;
    this.log(
      `\nConfigs (${changedCount} key${changedCount === 1 ? '' : 's'} differ${changedCount === 1 ? 's' : ''})`,
    );
    const shown = data.configs.filter((c) => c.changed || flags.all);
    const headers = data.runs.map((_, index) => label(index));
    this.log(
      shown.length === 0
        ? '  (no differences)'
        : table(
            ['', 'STEP', 'KEY', ...headers],
            shown.map((c) => [
              c.changed ? pc.yellow('*') : ' ',
              c.step,
              c.key,
              ...c.values.map((v) => (c.changed ? pc.bold(formatValue(v)) : formatValue(v))),
            ]),
          ),
    );
    this.log('\nMetrics');
    const two = data.runs.length === 2;
    this.log(
      data.metrics.length === 0
        ? '  (no metrics recorded)'
        : table(
            ['METRIC', ...headers, ...(two ? ['Δ (B − A)'] : [])],
            data.metrics.map((m) => {
              const [a, b] = m.values;
              const delta = two && a !== null && b !== null ? b! - a! : null;
              return [
                m.name,
                ...m.values.map((v) => formatValue(v ?? undefined)),
                ...(two ? [delta === null ? '—' : `${delta > 0 ? '+' : ''}${formatValue(delta)}`] : []),
              ];
            }),
          ),
    );
  }
}

/**
 * Which metric orders the runs: `--by`, else the gate's metric from the first
 * run's recorded gate config (`metric`, `direction`), matched to the metric
 * of that name (`evaluate.macro_f1` for `macro_f1`).
 */
function sortKey(
  runs: Array<{ configs: Record<string, unknown>; metrics: Record<string, number> }>,
  by: string | undefined,
  lower: boolean,
): { metric: string; direction: 'higher' | 'lower' } | undefined {
  if (by) return { metric: by, direction: lower ? 'lower' : 'higher' };
  for (const run of runs) {
    const gate = run.configs.gate as { metric?: unknown; direction?: unknown } | undefined;
    if (!gate || typeof gate.metric !== 'string') continue;
    const name = Object.keys(run.metrics).find((m) => m === gate.metric || m.endsWith(`.${gate.metric}`));
    if (name) return { metric: name, direction: gate.direction === 'lower' ? 'lower' : 'higher' };
  }
  return undefined;
}
