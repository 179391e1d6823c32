/**
 * The Python template end to end, as a Python-first team would use it:
 * `cairn new --template python --link`, `cairn run` (the Python steps with
 * real python3 and Debian's scikit-learn), the gate promotes, the load test
 * clears the candidate on a staging endpoint, `cairn serve`
 * answers predictions over HTTP from the model's Python worker, a second run
 * is fully cached, editing the Python train script re-runs train, and a
 * second version goes out as a canary.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@cairn/testkit/ports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'packages/cli/bin/dev.js');
const NEEDS = 'import sklearn, pandas, joblib';

/** The first interpreter that has scikit-learn, pandas and joblib (Debian's is /usr/bin/python3). */
function findPython(): string | undefined {
  const candidates = [process.env.CAIRN_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string =>
    Boolean(c),
  );
  return candidates.find((python) => spawnSync(python, ['-c', NEEDS]).status === 0);
}

/** Like `npm test`'s pretest: install Debian's packages when root with apt, else name the command. */
function ensurePython(): string {
  const found = findPython();
  if (found) return found;
  const packages = 'python3-sklearn python3-pandas python3-joblib';
  const install = spawnSync('bash', [join(ROOT, 'scripts/servers/install.sh')], {
    env: { ...process.env, CAIRN_SERVER_PACKAGES: packages },
    encoding: 'utf8',
  });
  const after = findPython();
  if (!after) {
    throw new Error(
      `No python3 with scikit-learn, pandas and joblib, and installing ${packages} failed:\n${install.stderr}\nRun: sudo bash scripts/servers/install.sh`,
    );
  }
  return after;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let python: string;
let cwd: string;
let dir: string;
let port: number;
let server: ChildProcess | undefined;
let serverOutput = '';

function cairn(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir ?? cwd,
      env: { ...process.env, NO_COLOR: '1', CAIRN_PYTHON: python },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `cairn run --json`: how each step ended (its start reason, or `cached`), and the run's status. */
async function run(args: string[] = []) {
  const result = await cairn(['run', '--json', ...args]);
  const events = result.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const steps: Record<string, string> = {};
  for (const event of events) {
    if (event.type === 'step.started') steps[event.step] = event.reason;
    if (event.type === 'step.cached') steps[event.step] = 'cached';
    if (event.type === 'step.failed') steps[event.step] = 'failed';
  }
  const finished = events.find((e) => e.type === 'run.finished');
  return { ...result, steps, finished, events };
}

const predict = (body: unknown) =>
  fetch(`http://127.0.0.1:${port}/v1/endpoints/penguins/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Resolves once the server answers health for the endpoint (a hang guard is the hook timeout). */
async function waitForEndpoint(): Promise<void> {
  for (;;) {
    if (server?.exitCode !== null) throw new Error(`cairn serve exited:\n${serverOutput}`);
    const answer = await fetch(`http://127.0.0.1:${port}/v1/endpoints/penguins/health`).catch(
      () => undefined,
    );
    if (answer?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// A complete row of the sample data, without its target, and its species.
const ROW = {
  island: 'Biscoe',
  bill_length_mm: 47.5,
  bill_depth_mm: 15,
  flipper_length_mm: 218,
  body_mass_g: 4950,
  sex: 'FEMALE',
};
const SPECIES = ['Adelie', 'Chinstrap', 'Gentoo'];

beforeAll(async () => {
  python = ensurePython();
  cwd = await mkdtemp(join(tmpdir(), 'cairn-e2e-python-'));
  port = await freePort();
  const made = await cairn(['new', 'py-team', '--template', 'python', '--link']);
  expect(made.code, made.stderr + made.stdout).toBe(0);
  dir = join(cwd, 'py-team');
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await rm(cwd, { recursive: true, force: true });
});

describe('a project made with cairn new --template python', () => {
  it('runs every step green: Python ingest, validate, train and evaluate, then register, gate, loadtest and deploy', async () => {
    const first = await run();
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.finished).toMatchObject({ status: 'succeeded' });
    expect(first.steps).toEqual({
      ingest: 'new',
      validate: 'new',
      train: 'new',
      evaluate: 'new',
      register: 'new',
      gate: 'new',
      holdout: 'new',
      loadtest: 'new',
      deploy: 'new',
    });
    // The model bundle records the python flavor and what trained it.
    const artifacts = JSON.parse((await cairn(['artifacts', '--type', 'model', '--json'])).stdout);
    expect(artifacts).toHaveLength(1);
    const out = join(cwd, 'model');
    const got = await cairn(['artifacts', 'get', artifacts[0].digest, '--out', out]);
    expect(got.code, got.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'cairn-model.json'), 'utf8'));
    expect(manifest.flavor).toBe('python');
    expect(manifest.framework.name).toBe('scikit-learn');
    expect(readFileSync(join(out, 'files', 'predict.py'), 'utf8')).toBe(
      readFileSync(join(dir, 'python', 'predict.py'), 'utf8'),
    );
    // The gate promoted it to production, as the first model of its name.
    const versions = JSON.parse((await cairn(['registry', 'versions', 'penguins', '--json'])).stdout);
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ version: 1, stage: 'production', digest: artifacts[0].digest });
  });

  it('cairn serve answers predictions over HTTP from the Python worker', async () => {
    server = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', CAIRN_PYTHON: python },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (c: Buffer) => (serverOutput += c.toString()));
    server.stderr!.on('data', (c: Buffer) => (serverOutput += c.toString()));
    await waitForEndpoint();
    const answer = await predict({ rows: [ROW, [39.1, 18.7, 181, 3750, 'Torgersen', 'MALE']] });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { predictions: string[]; version: number };
    expect(body.version).toBe(1);
    expect(body.predictions).toHaveLength(2);
    for (const prediction of body.predictions) expect(SPECIES).toContain(prediction);
    // Bad rows are refused by the model's own Python code, as the caller's fault.
    const bad = await predict({ rows: [{ ...ROW, bill_length_mm: 'long' }] });
    expect(bad.status).toBe(400);
    const error = ((await bad.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('CAIRN_DATA_INVALID');
    expect(error.message).toMatch(/^ValueError: row 0: bill_length_mm must be a number/);
  });

  it('a second run is fully cached', async () => {
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(Object.values(second.steps)).toEqual(Array(9).fill('cached'));
  });

  it('editing the Python train script re-runs train (the script is in its code fingerprint)', async () => {
    appendFileSync(join(dir, 'python', 'train.py'), '\n# The team tunes its training here.\n');
    const third = await run();
    expect(third.code, third.stderr).toBe(0);
    expect(third.steps).toMatchObject({ ingest: 'cached', validate: 'cached', train: 'code-changed' });
    expect(third.finished).toMatchObject({ status: 'succeeded' });
  });

  it('a second version goes out as a canary and the serving process follows', async () => {
    const next = await run(['--set', 'train.seed=7', '--set', 'train.trees=30']);
    expect(next.code, next.stderr + next.stdout).toBe(0);
    expect(next.steps.train).toBe('config-changed');
    const versions = JSON.parse((await cairn(['registry', 'versions', 'penguins', '--json'])).stdout);
    expect(versions.map((v: { version: number }) => v.version)).toContain(2);
    const deployed = await cairn(['deploy', 'penguins', '2', '--strategy', 'canary', '--percent', '50']);
    expect(deployed.code, deployed.stderr + deployed.stdout).toBe(0);
    // The serving process switches once it has loaded v2 in a Python worker of its own.
    const served = new Map<number, string[]>();
    for (;;) {
      served.clear();
      for (let unit = 0; unit < 40; unit++) {
        const answer = await predict({ rows: [ROW], unitId: `user-${unit}` });
        expect(answer.status).toBe(200);
        const body = (await answer.json()) as { predictions: string[]; version: number; role: string };
        expect(SPECIES).toContain(body.predictions[0]);
        served.set(body.version, [...(served.get(body.version) ?? []), body.role]);
      }
      if (served.has(2)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect([...served.keys()].sort()).toEqual([1, 2]);
    expect(new Set(served.get(2))).toEqual(new Set(['canary']));
    expect(new Set(served.get(1))).toEqual(new Set(['primary']));
  });

  it("the project's own checks pass: tsc over the wiring, and its pipeline test", async () => {
    const npm = (args: string[]) =>
      spawnSync('npm', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, CAIRN_PYTHON: python } });
    const tsc = npm(['run', 'typecheck']);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const tests = npm(['test']);
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);
    // Both of its tests: the good path (load test cleared, deployed) and the load test's refusal.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: vitest colours its summary (FORCE_COLOR is inherited)
    expect(tests.stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Tests\s+2 passed/);
  });
});
