// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stackFor } from '@cairn/core';
import { loadProjectConfig } from '@cairn/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, cairnOnTerminal, DEV_ENTRY, emulateTerminal, tempDir } from './helpers';

// One linked project, installed once, exercised end to end as a user would.
describe('a project made with cairn new --link', () => {
  let cwd: string;
  let dir: string;
  /** Ids of the runs made by the tests, in order. */
  const runIds: string[] = [];
  const lastRun = async () => JSON.parse((await cairn(['runs', '--json'], dir)).stdout)[0].id as string;

  beforeAll(async () => {
    cwd = await tempDir('e2e');
    const made = await cairn(['new', 'team-proj', '--link'], cwd);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/Installed dependencies/);
    expect(made.stdout).toMatch(/first commit/);
    dir = join(cwd, 'team-proj');
  });

  it('made a first git commit of the generated files', () => {
    const log = execFileSync('git', ['log', '--oneline'], { cwd: dir, encoding: 'utf8' });
    expect(log).toMatch(/Scaffold team-proj/);
    const tracked = execFileSync('git', ['ls-files'], { cwd: dir, encoding: 'utf8' });
    expect(tracked).toContain('cairn.config.ts');
    expect(tracked).toContain('steps/gate.ts');
    expect(tracked).not.toContain('node_modules');
  });

  it('trains, registers and promotes a first model on worker threads; a second run reports every step cached', async () => {
    const first = await cairn(['run'], dir);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toMatch(/9 executed, 0 cached, 0 failed, 0 skipped/);
    expect(first.stdout).toMatch(/promoted: first model of "penguins"/);
    runIds.push(await lastRun());
    const second = await cairn(['run'], dir);
    expect(second.code).toBe(0);
    // register, gate and deploy are reused too: the registry and the deployer still hold what they left there.
    expect(second.stdout).toMatch(/0 executed, 9 cached, 0 failed, 0 skipped/);
    runIds.push(await lastRun());
    // From a subfolder: the same project, one store and one history (nothing made under steps/).
    const fromSteps = await cairn(['run'], join(dir, 'steps'));
    expect(fromSteps.code, fromSteps.stderr + fromSteps.stdout).toBe(0);
    expect(fromSteps.stdout).toMatch(/0 executed, 9 cached, 0 failed, 0 skipped/);
    expect(existsSync(join(dir, 'steps', '.cairn'))).toBe(false);
    const history = JSON.parse((await cairn(['runs', '--json'], join(dir, 'steps'))).stdout);
    expect(
      history
        .map((run: { id: string }) => run.id)
        .slice(1, 3)
        .reverse(),
    ).toEqual(runIds);
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
    expect(finished.counts.cached + finished.counts.executed).toBe(9);
  });

  it('on a terminal, run draws one live row per step (waiting, running, cached, done) and a summary', async () => {
    const result = await cairnOnTerminal(['run', '--force', 'train'], dir);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const { screen: all, frames } = emulateTerminal(result.stdout);
    // Step logs scroll above; below them the live block: the header, one row
    // per step with its state and duration, the summary.
    expect(all.some((line) => /^train \| training accuracy \d\.\d{4}$/.test(line))).toBe(true);
    const screen = all.slice(all.findIndex((line) => /^training run /.test(line)));
    expect(screen[0]).toMatch(/^training run \S+ · env local$/);
    const rows = Object.fromEntries(
      screen
        .map((line) => /^ {2}\S+ (\S+)\s+(waiting|running|cached|done|failed|skipped)\s+(\S*)/.exec(line))
        .filter((m) => m !== null)
        .map((m) => [m[1], { state: m[2], duration: m[3] }]),
    );
    expect(Object.keys(rows).sort()).toEqual(
      ['deploy', 'evaluate', 'gate', 'ingest', 'loadtest', 'prepare', 'register', 'train', 'validate'].sort(),
    );
    expect(rows.train).toMatchObject({ state: 'done' });
    expect(rows.train!.duration).toMatch(/\d+(\.\d+)?(ms|s)$/);
    expect(rows.ingest).toMatchObject({ state: 'cached' });
    expect(screen.at(-1)).toMatch(/✓ run \S+ succeeded in .*: \d executed, \d cached, 0 failed, 0 skipped/);
    // It was redrawn in place: earlier frames showed steps waiting and train running.
    const seen = frames.map((f) => f.join('\n'));
    expect(seen.some((f) => /train\s+running/.test(f))).toBe(true);
    expect(seen.some((f) => /evaluate\s+waiting/.test(f))).toBe(true);
  });

  it('a malformed --set is exit 2 and runs nothing', async () => {
    const before = await cairn(['runs', '--json'], dir);
    const result = await cairn(['run', '--set', 'train-trees'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no "="/);
    const after = await cairn(['runs', '--json'], dir);
    expect(JSON.parse(after.stdout).length).toBe(JSON.parse(before.stdout).length);
  });

  it("reads ${env:NAME} from the project's .env (as .env.example says), the environment winning over it", async () => {
    const file = join(dir, 'conf/base/loadtest.yaml');
    const original = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, original.replace(/^endpoint: .*$/m, 'endpoint: ${env:CAIRN_DOTENV_ENDPOINT}'));
      const unset = await cairn(['config', 'loadtest'], dir);
      expect(unset.code).toBe(2);
      expect(unset.stderr).toMatch(/CAIRN_DOTENV_ENDPOINT\s+is not set/);
      // A value in .env is used: this one is not an endpoint name, so the step's schema says so.
      writeFileSync(join(dir, '.env'), '# local settings\nCAIRN_DOTENV_ENDPOINT="Not An Endpoint"\n');
      const fromFile = await cairn(['config', 'loadtest'], dir);
      expect(fromFile.code).toBe(2);
      expect(fromFile.stderr).toMatch(/endpoint: expected lowercase letters/);
      const fromEnv = await cairn(['config', 'loadtest'], dir, { CAIRN_DOTENV_ENDPOINT: 'penguins' });
      expect(fromEnv.code, fromEnv.stderr).toBe(0);
    } finally {
      writeFileSync(file, original);
      rmSync(join(dir, '.env'), { force: true });
    }
  });

  it('a config value of the wrong type is exit 2, naming the key', async () => {
    const result = await cairn(['run', '--set', 'train.trees="many"'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/trees/);
  });

  it('a model below the evaluation floor fails the run (exit 1) and registers nothing', async () => {
    const failing = await cairn(
      ['run', '--set', 'train.trees=1', '--set', 'train.maxDepth=1', '--set', 'evaluate.minMacroF1=0.99'],
      dir,
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout + failing.stderr).toMatch(/below the floor minMacroF1/);
    const versions = JSON.parse((await cairn(['registry', 'versions', 'penguins', '--json'], dir)).stdout);
    expect(versions).toHaveLength(1);
  });

  it('runs show, artifacts, lineage and config show what happened', async () => {
    const show = await cairn(['runs', 'show', runIds[0]!], dir);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/evaluate/);
    expect(show.stdout).toMatch(/macro_f1/);
    const artifacts = JSON.parse((await cairn(['artifacts', '--type', 'metrics', '--json'], dir)).stdout);
    const evaluation = artifacts.find((a: any) => a.producer?.step === 'evaluate');
    const out = join(cwd, 'metrics.json');
    const get = await cairn(['artifacts', 'get', evaluation.digest.slice(0, 10), '--out', out], dir);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).macro_f1).toBeGreaterThan(0.9);
    const lineage = await cairn(['lineage', evaluation.digest], dir);
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(lineage.stdout).toMatch(/step evaluate/);
    expect(lineage.stdout).toMatch(/step train/);
    const config = await cairn(['config', 'evaluate', '--env', 'ci'], dir);
    expect(config.code, config.stderr).toBe(0);
    expect(config.stdout).toMatch(/minMacroF1\s+0\.85\s+conf\/ci\/evaluate\.yaml/);
  });

  it('plan says what would run and why', async () => {
    const plan = JSON.parse(
      (await cairn(['plan', '--json', '--set', 'evaluate.minMacroF1=0.5'], dir)).stdout,
    );
    const byStep = Object.fromEntries(plan.steps.map((s: any) => [s.step, s]));
    expect(byStep.ingest.action).toBe('cached');
    expect(byStep.evaluate).toMatchObject({ action: 'run', reason: 'config-changed' });
  });

  it('plan names the project file whose edit re-runs a step: src/predict.ts is imported by evaluate alone', async () => {
    const file = join(dir, 'src', 'predict.ts');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, `${original}\n// An edit evaluate's code fingerprint must see.\n`);
    try {
      const plan = JSON.parse((await cairn(['plan', '--json'], dir)).stdout);
      const byStep = Object.fromEntries(plan.steps.map((s: any) => [s.step, s]));
      expect(byStep.evaluate).toMatchObject({
        action: 'run',
        reason: 'code-changed',
        detail: 'src/predict.ts',
      });
      for (const step of ['ingest', 'validate', 'prepare', 'train'])
        expect(byStep[step].action).toBe('cached');
    } finally {
      writeFileSync(file, original);
    }
    const back = JSON.parse((await cairn(['plan', '--json'], dir)).stdout);
    expect(back.steps.find((s: any) => s.step === 'evaluate').action).toBe('cached');
  });

  it('report extracts the evaluation report of a run, opens it, and prints its summary', async () => {
    const run = runIds[0]!;
    const result = await cairn(['report', run], dir);
    expect(result.code, result.stderr).toBe(0);
    const page = join(dir, '.cairn', 'reports', run, 'index.html');
    expect(result.stdout).toContain(`.cairn/reports/${run}/index.html`);
    const html = readFileSync(page, 'utf8');
    expect(html).toContain('Confusion matrix');
    expect(html).toContain('<svg');
    const json = JSON.parse(
      (await cairn(['report', run.slice(0, 12), '--step', 'validate', '--json'], dir)).stdout,
    );
    expect(json).toMatchObject({ run, step: 'validate', format: 'html' });
    expect(readFileSync(json.path, 'utf8')).toContain('bill_length_mm');
    // --open uses the system opener: a stand-in xdg-open on PATH records what it was given.
    const bin = join(cwd, 'bin');
    await mkdir(bin, { recursive: true });
    const opened = join(cwd, 'opened.txt');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" > ${opened}\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const open = await cairn(['report', run, '--open'], dir, { PATH: `${bin}:${process.env.PATH}` });
    expect(open.code, open.stderr).toBe(0);
    expect(open.stdout).toMatch(/opened with xdg-open/);
    for (let i = 0; i < 50 && !existsSync(opened); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(opened, 'utf8').trim()).toBe(page);
    const summary = await cairn(['report', run, '--summary'], dir);
    expect(summary.stdout).toMatch(/## Promotion gate: penguins v1/);
    expect(summary.stdout).toMatch(/\| macro_f1 \(gate, higher is better\) \| 0\.9\d+ \| — \|/);
    const unknown = await cairn(['report', 'r_doesnotexist'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No run "r_doesnotexist"/);
  });

  it('compare puts two runs side by side: only the differing config keys, metrics with deltas', async () => {
    const worse = await cairn(['run', '--set', 'train.trees=1', '--set', 'train.maxDepth=1'], dir);
    expect(worse.code, worse.stderr).toBe(0);
    const b = await lastRun();
    runIds.push(b);
    const data = JSON.parse(
      (await cairn(['compare', runIds[0]!, b, '--json', '--by', 'evaluate.macro_f1'], dir)).stdout,
    );
    // Best first: the first run (50 trees) has the higher macro-F1.
    expect(data.runs.map((r: any) => r.id)).toEqual([runIds[0], b]);
    const changed = data.configs.filter((c: any) => c.changed).map((c: any) => `${c.step}.${c.key}`);
    expect(changed.sort()).toEqual(['train.maxDepth', 'train.trees']);
    expect(data.configs.find((c: any) => c.key === 'trees')).toMatchObject({ values: [50, 1] });
    const f1 = data.metrics.find((m: any) => m.name === 'evaluate.macro_f1');
    expect(f1.values[1] - f1.values[0]).toBeLessThan(-0.1);
    const text = await cairn(['compare', runIds[0]!, 'latest'], dir);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/\*\s+train\s+trees\s+50\s+1/);
    expect(text.stdout).toMatch(/evaluate\.macro_f1\s+0\.9\d+\s+0\.\d+\s+-0\.\d+/);
    expect(text.stdout).not.toMatch(/seed/);
    const unknown = await cairn(['compare', runIds[0]!, 'nope'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No run "nope"/);
  });

  it('gate exits 1 with a Markdown summary when the candidate is much worse than production', async () => {
    const summaryFile = join(cwd, 'summary-fail.md');
    const result = await cairn(['gate'], dir, { GITHUB_STEP_SUMMARY: summaryFile });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/worse than production beyond the allowed margin/);
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toMatch(/\*\*Decision: kept\*\* — ❌ worse than production/);
    expect(summary).toMatch(/\| macro_f1 \(gate, higher is better\) \| 0\.\d+ \| 0\.9\d+ \(v1\) \|/);
    const versions = JSON.parse((await cairn(['registry', 'versions', 'penguins', '--json'], dir)).stdout);
    expect(versions.find((v: any) => v.stage === 'production').version).toBe(1);
    // The good run's decision passes, printed to stdout when there is no $GITHUB_STEP_SUMMARY.
    const good = await cairn(['gate', runIds[0]!], dir, { GITHUB_STEP_SUMMARY: '' });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/\*\*Decision: promoted to production\*\*/);
  });

  it('npm run ci: tests, the pipeline in the ci env and the gate pass; a much worse model fails the job', () => {
    const summaryFile = join(cwd, 'summary-ci.md');
    const env = { ...process.env, GITHUB_STEP_SUMMARY: summaryFile, NO_COLOR: '1' };
    const ok = spawnSync('npm', ['run', 'ci'], { cwd: dir, encoding: 'utf8', env });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Tests\s+\d+ passed/);
    expect(ok.stdout).toMatch(/run r_\w+ succeeded/);
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toMatch(/## Promotion gate: penguins v1/);
    expect(summary).toMatch(/env ci/);
    const ciRun = JSON.parse(
      execFileSync(process.execPath, [DEV_ENTRY, 'runs', '--json'], { cwd: dir, encoding: 'utf8', env }),
    )[0];
    expect(ciRun.env).toBe('ci');

    // CI config that makes the model far worse (with the floor lowered so the gate is what refuses it).
    writeFileSync(join(dir, 'conf/ci/train.yaml'), 'trees: 1\nmaxDepth: 1\n');
    writeFileSync(join(dir, 'conf/ci/evaluate.yaml'), 'minMacroF1: 0.3\n');
    try {
      rmSync(summaryFile, { force: true });
      const bad = spawnSync('npm', ['run', 'ci'], { cwd: dir, encoding: 'utf8', env });
      expect(bad.status, bad.stdout + bad.stderr).toBe(1);
      expect(bad.stderr).toMatch(/worse than production beyond the allowed margin/);
      expect(readFileSync(summaryFile, 'utf8')).toMatch(/Decision: kept\*\* — ❌/);
    } finally {
      execFileSync('git', ['checkout', '--', 'conf/ci/evaluate.yaml'], { cwd: dir });
      rmSync(join(dir, 'conf/ci/train.yaml'));
    }
  }, 600_000); // tsc, the generated tests (they train forests) and two pipeline runs: minutes on a shared machine.

  it('doctor: every practice present but pinned versions (a linked project depends on a checkout)', async () => {
    const result = await cairn(['doctor', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const byId = Object.fromEntries(report.practices.map((p: any) => [p.id, p]));
    for (const id of [
      'pipeline',
      'config',
      'artifacts',
      'metadata',
      'data-validation',
      'evaluation',
      'registry',
    ]) {
      expect(byId[id].ok, `${id}: ${byId[id].detail}`).toBe(true);
    }
    expect(byId.registry.detail).toMatch(/penguins: \d+ versions, v1 in production/);
    expect(byId.gate.ok).toBe(true);
    expect(byId.ci).toMatchObject({ ok: true, detail: 'tests ✓, pipeline ✓, evaluation gate ✓' });
    expect(byId.deployment).toMatchObject({
      ok: true,
      detail: 'deployer local (env local), deploy step canary-review, loadtest, deploy',
    });
    expect(byId.drift).toMatchObject({ ok: true, detail: 'drift step drift, retraining trigger ✓' });
    expect(byId.abtest).toMatchObject({
      ok: true,
      detail: 'canary releases by step deploy; experiments on local (env local) by step canary-review',
    });
    expect(byId.pinned.ok).toBe(false); // file: links are not released versions
    expect(report.level).toBe(1);
    const text = await cairn(['doctor'], dir);
    expect(text.stdout).toMatch(/✓ Data validation step: step validate/);
    expect(text.stdout).toMatch(/✓ Automated deployment/);
    expect(text.stdout).toMatch(/✓ A\/B test or canary release/);
    // Every practice but pinned versions: a linked project depends on a checkout, not releases.
    expect(text.stdout).toMatch(/MLOps level 1 \(12\/13 practices\)/);
  });

  it('doctor judges A/B from the real config: no engine and blue-green deploys are missing it', async () => {
    const files = [join(dir, 'cairn.config.ts'), join(dir, 'conf', 'base', 'deploy.yaml')];
    const before = files.map((f) => readFileSync(f, 'utf8'));
    try {
      writeFileSync(files[0]!, before[0]!.replace(/^ {4}abtest: localAbtest\(\),\n/m, ''));
      writeFileSync(files[1]!, before[1]!.replace(/^strategy: canary$/m, 'strategy: blue-green'));
      const doctor = JSON.parse((await cairn(['doctor', '--json'], dir)).stdout);
      expect(doctor.practices.find((p: any) => p.id === 'abtest')).toMatchObject({
        ok: false,
        detail: 'A/B engine ✗, experiment or canary step canary-review',
      });
      // The monitoring pipeline's review step needs the engine: the run is refused before it starts.
      const run = await cairn(['run', 'monitoring'], dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/cairn add abtest-local/);
    } finally {
      for (const [i, f] of files.entries()) writeFileSync(f, before[i]!);
    }
    const added = await cairn(['add', 'abtest-local'], dir);
    expect(added.code, added.stderr).toBe(0);
    expect(readFileSync(files[0]!, 'utf8')).toBe(before[0]);
  });

  it('add refuses a package that is not a Cairn plugin, runs none of its scripts and changes nothing', async () => {
    const files = ['package.json', 'package-lock.json', 'cairn.config.ts'];
    const before = files.map((f) => readFileSync(join(dir, f), 'utf8'));
    const cases: Array<[string, unknown, RegExp]> = [
      ['not-a-plugin', undefined, /no "cairn"/],
      ['half-a-plugin', { kind: 'storage' }, /"id" must be/],
      ['bad-options', { kind: 'storage', id: 'x', options: '{ dir: (' }, /"options" must be one balanced/],
    ];
    for (const [name, field, problem] of cases) {
      const pkg = join(cwd, name);
      const marker = join(cwd, `${name}.script-ran`);
      await mkdir(pkg);
      await writeFile(
        join(pkg, 'package.json'),
        JSON.stringify({
          name,
          version: '1.0.0',
          type: 'module',
          ...(field ? { cairn: field } : {}),
          // Runs on a plain `npm install`: cairn add must check the package before any of this runs.
          scripts: { install: `node -e "require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')"` },
        }),
      );
      await writeFile(join(pkg, 'index.js'), 'export default () => ({});\n');
      const result = await cairn(['add', `file:${pkg}`], dir);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/not a Cairn plugin/);
      expect(result.stderr).toMatch(problem);
      expect(existsSync(marker), `${name}'s install script ran`).toBe(false);
      expect(existsSync(join(dir, 'node_modules', name)), name).toBe(false);
      expect(files.map((f) => readFileSync(join(dir, f), 'utf8'))).toEqual(before);
    }
  });

  it('add storage-s3 and metadata-postgres configure the team env from environment variables', {
    timeout: 180_000,
  }, async () => {
    for (const plugin of ['storage-s3', 'metadata-postgres']) {
      const result = await cairn(['add', plugin], dir);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/env\.team/);
    }
    const config = readFileSync(join(dir, 'cairn.config.ts'), 'utf8');
    expect(config).toContain("import s3Storage from '@cairn/storage-s3';");
    expect(config).toContain("bucket: '${env:ARTIFACT_BUCKET}'");
    expect(config).toContain("metadata: postgresMetadata({ url: '${env:DATABASE_URL}' })");
    // The base stack is untouched: local runs and CI need no server.
    expect(config).toContain("storage: localStore({ dir: '.cairn/artifacts' }),");
    const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pjson.dependencies['@cairn/storage-s3']).toMatch(/^file:.*plugins\/storage-s3$/);
    const example = readFileSync(join(dir, '.env.example'), 'utf8');
    for (const name of [
      'ARTIFACT_BUCKET',
      'S3_ENDPOINT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'DATABASE_URL',
    ]) {
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    }
    const { config: loaded } = await loadProjectConfig(dir);
    const team = stackFor(loaded, 'team');
    expect([team.storage?.name, team.metadata?.name]).toEqual(['s3', 'postgres']);
    const doctor = JSON.parse((await cairn(['doctor', '--json'], dir)).stdout);
    const metadata = doctor.practices.find((p: any) => p.id === 'metadata');
    expect(metadata.detail).toMatch(/env team: s3 \+ postgres/);
    const run = await cairn(['run'], dir);
    expect(run.code, run.stderr + run.stdout).toBe(0);
  });

  it('add wires a platform team plugin into the stack, and the next run uses it', {
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
