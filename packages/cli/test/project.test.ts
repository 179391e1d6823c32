import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

// One linked project, installed once, exercised end to end as a user would.
describe('a project made with cairn new --link', () => {
  let cwd: string;
  let dir: string;

  beforeAll(async () => {
    cwd = await tempDir('e2e');
    const made = await cairn(['new', 'team-proj', '--link'], cwd);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/Installed dependencies/);
    expect(made.stdout).toMatch(/first commit/);
    dir = join(cwd, 'team-proj');
  }, 180_000);

  it('made a first git commit of the generated files', () => {
    const log = execFileSync('git', ['log', '--oneline'], { cwd: dir, encoding: 'utf8' });
    expect(log).toMatch(/Scaffold team-proj/);
    const tracked = execFileSync('git', ['ls-files'], { cwd: dir, encoding: 'utf8' });
    expect(tracked).toContain('cairn.config.ts');
    expect(tracked).not.toContain('node_modules');
  });

  it('runs the pipeline to success, then reports every step cached', async () => {
    const first = await cairn(['run'], dir);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toMatch(/3 executed, 0 cached, 0 failed, 0 skipped/);
    const second = await cairn(['run'], dir);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/0 executed, 3 cached, 0 failed, 0 skipped/);
  });

  it('--json prints one event per line, ending with run.finished and its counts', async () => {
    const result = await cairn(['run', '--json', '--force', 'train'], dir);
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events[0]).toMatchObject({ type: 'run.started', pipeline: 'training' });
    const runId = events[0].runId;
    expect(events.every((e) => e.runId === runId && typeof e.at === 'string')).toBe(true);
    expect(events.find((e) => e.type === 'step.cached')).toMatchObject({ step: 'ingest' });
    expect(events.find((e) => e.type === 'step.succeeded' && e.step === 'train').durationMs).toBeTypeOf(
      'number',
    );
    const finished = events.at(-1);
    expect(finished).toMatchObject({ type: 'run.finished', status: 'succeeded' });
    expect(finished.counts.cached + finished.counts.executed).toBe(3);
    expect(finished.counts.executed).toBeGreaterThanOrEqual(1);
  });

  it('a malformed --set is exit 2 and runs nothing', async () => {
    const before = await cairn(['runs', '--json'], dir);
    const result = await cairn(['run', '--set', 'train-holdoutEvery'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no "="/);
    const after = await cairn(['runs', '--json'], dir);
    expect(JSON.parse(after.stdout).length).toBe(JSON.parse(before.stdout).length);
  });

  it('a config value of the wrong type is exit 2, naming the file and key', async () => {
    const result = await cairn(['run', '--set', 'train.holdoutEvery="four"'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/holdoutEvery/);
  });

  it('a failing evaluation gate is exit 1', async () => {
    const result = await cairn(['run', '--set', 'evaluate.minAccuracy=1'], dir);
    // Perfect accuracy passes a gate of 1; force an impossible bar through conf instead.
    expect([0, 1]).toContain(result.code);
    const failing = await cairn(
      ['run', '--set', 'train.features=[body_mass_g]', '--set', 'evaluate.minAccuracy=0.99'],
      dir,
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout + failing.stderr).toMatch(/below the gate/);
  });

  it('runs, runs show, artifacts, lineage and config show what happened', async () => {
    const runs = JSON.parse((await cairn(['runs', '--json'], dir)).stdout);
    const ok = runs.find((r: any) => r.status === 'succeeded');
    const show = await cairn(['runs', 'show', ok.id], dir);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/evaluate/);
    expect(show.stdout).toMatch(/accuracy/);
    const artifacts = JSON.parse((await cairn(['artifacts', '--type', 'metrics', '--json'], dir)).stdout);
    expect(artifacts.length).toBeGreaterThan(0);
    const out = join(cwd, 'metrics.json');
    const get = await cairn(['artifacts', 'get', artifacts[0].digest.slice(0, 10), '--out', out], dir);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveProperty('accuracy');
    const lineage = await cairn(['lineage', artifacts[0].digest], dir);
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(lineage.stdout).toMatch(/step evaluate/);
    expect(lineage.stdout).toMatch(/step train/);
    const config = await cairn(['config', 'evaluate', '--env', 'ci'], dir);
    expect(config.code, config.stderr).toBe(0);
    expect(config.stdout).toMatch(/minAccuracy\s+0\.8\s+conf\/ci\/evaluate\.yaml/);
  });

  it('plan says what would run and why', async () => {
    const plan = JSON.parse(
      (await cairn(['plan', '--json', '--set', 'evaluate.minAccuracy=0.5'], dir)).stdout,
    );
    const byStep = Object.fromEntries(plan.steps.map((s: any) => [s.step, s]));
    expect(byStep.ingest.action).toBe('cached');
    expect(byStep.evaluate).toMatchObject({ action: 'run', reason: 'config-changed' });
  });

  it('doctor scores the project from its files and run history', async () => {
    const result = await cairn(['doctor', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const byId = Object.fromEntries(report.practices.map((p: any) => [p.id, p]));
    expect(byId.pipeline.ok).toBe(true);
    expect(byId.config.ok).toBe(true);
    expect(byId.metadata.ok).toBe(true);
    expect(byId.evaluation.ok).toBe(true);
    expect(byId.ci.ok).toBe(true);
    expect(byId['data-validation'].ok).toBe(false);
    expect(byId.pinned.ok).toBe(false); // file: links are not released versions
    expect(report.level).toBe(0);
    const text = await cairn(['doctor'], dir);
    expect(text.stdout).toMatch(/✗ Data validation step/);
    expect(text.stdout).toMatch(/MLOps level 0/);
  });

  it('the generated project passes its own npm test', () => {
    const out = execFileSync('npm', ['test'], { cwd: dir, encoding: 'utf8' });
    expect(out).toMatch(/passed/);
  });

  it('add refuses a package that is not a Cairn plugin and changes nothing', async () => {
    const pkg = join(cwd, 'not-a-plugin');
    await mkdir(pkg);
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'not-a-plugin', version: '1.0.0' }));
    await writeFile(join(pkg, 'index.js'), 'export default () => ({});\n');
    const files = ['package.json', 'package-lock.json', 'cairn.config.ts'];
    const before = files.map((f) => readFileSync(join(dir, f), 'utf8'));
    const result = await cairn(['add', `file:${pkg}`], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a Cairn plugin/);
    expect(files.map((f) => readFileSync(join(dir, f), 'utf8'))).toEqual(before);
  });

  it('add wires a real plugin into cairn.config.ts, and the next run uses it', {
    timeout: 180_000,
  }, async () => {
    const plugin = join(cwd, 'plug');
    const made = await cairn(
      [
        'new',
        'plug',
        '--template',
        'plugin',
        '--kind',
        'storage',
        '--name',
        '@acme/storage-disk',
        '--link',
        '--no-git',
      ],
      cwd,
    );
    expect(made.code, made.stderr).toBe(0);
    const result = await cairn(['add', `file:${plugin}`], dir);
    expect(result.code, result.stderr).toBe(0);
    const config = readFileSync(join(dir, 'cairn.config.ts'), 'utf8');
    expect(config).toContain("import diskStorage from '@acme/storage-disk';");
    expect(config).toMatch(/storage: diskStorage\(\),/);
    expect(config).toContain('// Artifacts: content-addressed files under .cairn/ (ignored by git).');
    const run = await cairn(['run', '--no-cache'], dir);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toContain('@acme/storage-disk');
    // The plugin's default folder now holds the run's artifacts.
    expect(readdirSync(join(dir, '.cairn', 'disk')).length).toBeGreaterThan(0);
  });
});
