/** Render the gathered results as the Markdown table in results/latest.md. */

const fmt = (value) => {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
};

/** The whole-process table: one row per contender, one column per scenario and size, ratios to the plain script. */
function processTable(b) {
  const columns = [...new Set(b.figures.map((f) => `${f.scenario}|${f.size}`))];
  const contenders = [...new Set(b.figures.map((f) => f.contender))];
  const lines = [
    `| contender | ${columns.map((c) => c.replace('|', ', N = ')).join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
  ];
  for (const id of contenders) {
    const cells = columns.map((c) => {
      const f = b.figures.find((x) => x.contender === id && `${x.scenario}|${x.size}` === c);
      return f ? `${fmt(f.stats.median)} s (${fmt(f.ratio)}×)` : '—';
    });
    const label = b.figures
      .find((f) => f.contender === id)
      .label.replace(/, (cold|noop|change), N = \d+$/, '');
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines;
}

/**
 * The summary that heads results/latest.md and is copied, from the same
 * report, into bench/README.md: machine, every target, the whole-process table.
 */
export function summary(report) {
  const m = report.machine;
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform})${m.commit ? `, commit ${m.commit}` : ''}.`,
    `Started ${report.startedAt}; whole run ${report.totalSeconds} s. Build: core ${report.build.core}, CLI ${report.build.cli}${report.build.deployLocal ? `, deploy-local ${report.build.deployLocal}` : ''}${report.build.ui ? `, ui ${report.build.ui}` : ''}.`,
    'Times are median (min–max) over repeats; every floor was measured in the same run.',
    '',
    '| target | goal | measured | result |',
    '| --- | --- | --- | --- |',
  ];
  for (const b of Object.values(report.benchmarks)) {
    for (const t of b.targets ?? []) {
      const verdict = t.pass === null ? 'not measured' : t.pass ? 'pass' : '**MISS**';
      // A miss that rounds to the goal (3.004 against ≤ 3) is shown with the digit that tells.
      const goal = Number(String(t.target).replace(/[^0-9.]/g, ''));
      const shown =
        t.pass === false && typeof t.value === 'number' && fmt(t.value) === fmt(goal)
          ? t.value.toFixed(3)
          : fmt(t.value);
      lines.push(
        `| ${t.label} | ${t.target} ${t.unit} | ${shown} ${t.value === null ? '' : t.unit} | ${verdict} |`,
      );
    }
  }
  const whole = report.benchmarks.process;
  if (whole && !whole.failed && whole.figures.length > 0) {
    lines.push(
      '',
      'Whole process, spawn to exit, ratio to the plain script in the same run:',
      '',
      ...processTable(whole),
    );
  }
  return lines;
}

export function markdown(report) {
  const lines = ['# Cairn benchmark results', '', '## Summary', '', ...summary(report)];
  for (const b of Object.values(report.benchmarks)) {
    lines.push('', `## ${b.title ?? b.name}${b.seconds !== undefined ? ` (${b.seconds} s)` : ''}`, '');
    if (b.failed) {
      lines.push(`The benchmark failed: ${b.failed}.`);
      continue;
    }
    if (b.name === 'process') {
      lines.push(...processTable(b));
    } else if (b.name === 'orchestration') {
      lines.push(
        '| N | executor | conc. | scenario | ran | Cairn ms | floor ms | ratio | overhead ms/step |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      for (const f of b.figures) {
        lines.push(
          `| ${f.size} | ${f.executor} | ${f.concurrency} | ${f.scenario} | ${f.executed} | ${fmt(f.stats.median)} (${fmt(f.stats.min)}–${fmt(f.stats.max)}) | ${fmt(f.floor.median)} (${fmt(f.floor.min)}–${fmt(f.floor.max)}) | ${fmt(f.ratio)}× | ${fmt(f.overheadPerStepMs)} |`,
        );
      }
    } else if (b.name === 'serving' && b.figures.length > 0) {
      lines.push(
        '| server | conc. | req/s | p50 ms | p99 ms | req/s vs floor | overhead µs/req | p50 +ms | server CPU µs/req |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      // Loopback latencies are tenths of a millisecond: three decimals keep the differences visible.
      const ms = (value) =>
        typeof value === 'number' && Math.abs(value) < 10 ? value.toFixed(3) : fmt(value);
      const range = (s, f = fmt) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
      for (const f of b.figures) {
        lines.push(
          `| ${f.label.replace(/, concurrency \d+$/, '')} | ${f.concurrency} | ${range(f.stats)} | ${range(f.p50, ms)} | ${range(f.p99, ms)} | ${f.ratio === undefined ? '' : `${fmt(f.ratio)}×`} | ${fmt(f.overheadUsPerRequest)} | ${ms(f.p50OverheadMs)} | ${f.cpuUsPerRequest ? range(f.cpuUsPerRequest) : ''} |`,
        );
      }
    } else if (b.figures.length > 0) {
      lines.push(
        '| figure | median | min | max | unit | vs floor |',
        '| --- | --- | --- | --- | --- | --- |',
      );
      for (const f of b.figures) {
        const extra = f.throughputMiBps !== undefined ? ` (${fmt(f.throughputMiBps)} MiB/s)` : '';
        const ratio = f.ratio !== undefined ? `${fmt(f.ratio)}× ${f.floorLabel ?? 'floor'}` : '';
        lines.push(
          `| ${f.label}${extra} | ${fmt(f.stats.median)} | ${fmt(f.stats.min)} | ${fmt(f.stats.max)} | ${f.unit} | ${ratio} |`,
        );
      }
    }
    for (const u of b.unavailable ?? []) lines.push('', `Not available: ${u}`);
    for (const n of b.notes ?? []) lines.push('', `Note: ${n}`);
  }
  return `${lines.join('\n')}\n`;
}
