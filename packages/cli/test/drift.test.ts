import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

// The template's monitoring pipeline on a linked project: drift found in the
// sample live data (Biscoe birds only), `cairn drift` exit codes, and the
// `npm run monitor` trigger retraining only on drift.
describe('cairn drift on a project made with cairn new --link', () => {
  let dir: string;
  const runs = async () =>
    JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as Array<{ id: string; pipeline: string }>;
  const DRIFTED = ['species', 'island', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g'];

  beforeAll(async () => {
    const cwd = await tempDir('drift');
    const made = await cairn(['new', 'drift-proj', '--link'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'drift-proj');
  });

  it('exits 2 with a clear message before any run has a drift report', async () => {
    const result = await cairn(['drift'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/No run yet: nothing to check for drift/);
    expect(result.stderr).toMatch(/cairn run monitoring/);
  });

  let drifted: string;
  it('reads the drift of the monitoring run: a table per column, exit 1, and JSON', async () => {
    const run = await cairn(['run', 'monitoring'], dir);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    // ingest, live, current (no prediction log here: the live file is the current data), drift
    // and canary-review (which finds no canary here).
    expect(run.stdout).toMatch(/5 executed/);
    drifted = (await runs())[0]!.id;

    const result = await cairn(['drift'], dir);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^## Data drift: ❌ drift in 5 of 7 columns$/m);
    expect(result.stdout).toMatch(/^\| island \| [\d.]+ \| [\d.e-]+ \(χ²\) \| \*\*yes\*\* \|/m);
    expect(result.stdout).toMatch(/^\| body_mass_g \| [\d.]+ \| [\d.e-]+ \(KS\) \| \*\*yes\*\* \|/m);
    expect(result.stdout).toMatch(/^\| sex \| [\d.e-]+ \| [\d.]+ \(χ²\) \| no \|/m);
    expect(result.stdout).toContain(`Run \`${drifted}\` · pipeline monitoring`);
    expect(result.stdout).toContain(`cairn report ${drifted} --step drift --open`);
    expect(result.stderr).toMatch(/✖ drift: Drift in 5 of 7 columns/);

    const json = await cairn(['drift', 'latest', '--json'], dir);
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ run: drifted, pipeline: 'monitoring', step: 'drift', drifted: true });
    expect(out.driftedColumns).toEqual(DRIFTED);
    expect(out.report.columns).toHaveLength(7);
  });

  it('writes the Markdown to $GITHUB_STEP_SUMMARY and prints an aligned table', async () => {
    const summary = join(dir, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const result = await cairn(['drift', drifted], dir, { GITHUB_STEP_SUMMARY: summary });
    expect(result.code).toBe(1);
    const written = readFileSync(summary, 'utf8');
    expect(written.startsWith('# earlier step\n## Data drift: ❌')).toBe(true);
    expect(written).toMatch(/\| flipper_length_mm \| [\d.]+ \| [\d.e-]+ \(KS\) \| \*\*yes\*\* \|/);
    expect(result.stdout).toMatch(/^column\s+PSI\s+p-value\s+drifted$/m);
    expect(result.stdout).toMatch(/^island\s+[\d.]+\s+[\d.e-]+ \(χ²\)\s+yes$/m);
    expect(result.stdout).toMatch(/^sex\s+[\d.e-]+\s+[\d.]+ \(χ²\)\s+no$/m);
    expect(result.stdout).toContain('Drift summary written to $GITHUB_STEP_SUMMARY');
    expect(result.stdout).not.toContain('## Data drift');
  });

  it('exits 0 when the live data matches, 2 for a run without a report; latest skips runs without one', async () => {
    const same = await cairn(['run', 'monitoring', '--set', 'live.path=data/penguins.csv'], dir);
    expect(same.code, same.stderr + same.stdout).toBe(0);
    const clean = await cairn(['drift'], dir);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^## Data drift: ✅ no drift$/m);
    expect(clean.stdout).toMatch(/No drift in 7 columns/);

    const broken = await cairn(['run', 'monitoring', '--set', 'live.path=data/missing.csv'], dir);
    expect(broken.code).not.toBe(0);
    const failedRun = (await runs())[0]!.id;
    const none = await cairn(['drift', failedRun], dir);
    expect(none.code).toBe(2);
    // oclif wraps error messages at the terminal width: join the lines again.
    expect(none.stderr.replace(/\s*\n\s*›\s*/g, ' ')).toMatch(
      new RegExp(`Run ${failedRun} \\(pipeline monitoring\\) has no drift report: it failed at step live`),
    );
    const latest = await cairn(['drift'], dir);
    expect(latest.code).toBe(0);
    expect(latest.stdout).toMatch(/the latest run with a drift report; 1 newer run has none/);
    // An explicit older run is read as it is.
    expect((await cairn(['drift', drifted], dir)).code).toBe(1);
  });

  it('npm run monitor retrains on drift and does not when the live data matches', async () => {
    const npm = () =>
      spawnSync('npm', ['run', 'monitor'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
    const before = (await runs()).length;
    const onDrift = npm();
    expect(onDrift.status, onDrift.stderr + onDrift.stdout).toBe(0);
    expect(onDrift.stdout).toMatch(/## Data drift: ❌/);
    expect(onDrift.stdout).toMatch(/> cairn run training && cairn gate latest/);
    const after = await runs();
    // monitoring, then training
    expect(after.slice(0, after.length - before).map((r) => r.pipeline)).toEqual(['training', 'monitoring']);

    const live = join(dir, 'conf', 'base', 'live.yaml');
    writeFileSync(live, readFileSync(live, 'utf8').replace('path: data/live.csv', 'path: data/penguins.csv'));
    const quiet = npm();
    expect(quiet.status, quiet.stderr + quiet.stdout).toBe(0);
    expect(quiet.stdout).toMatch(/## Data drift: ✅ no drift/);
    expect(quiet.stdout).not.toMatch(/cairn run training/);
    const last = await runs();
    expect(last.length).toBe(after.length + 1);
    expect(last[0]!.pipeline).toBe('monitoring');
  });
});
