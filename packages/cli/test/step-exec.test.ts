/**
 * A pipeline run the way a cluster engine runs it: `cairn run --create`
 * records the run, then every step of the exported workflow runs as its own
 * `cairn step exec` process, in DAG order, against the project's stack (here
 * the local one: a folder store and SQLite, shared by the processes). The
 * outputs and lineage must be those of `cairn run`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionRecord } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cairn, DEV_ENTRY, tempDir } from './helpers';

const REPO_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

// A diamond: source → (double, square) → total, with a config per step.
const PIPELINE = `
import { json, metrics, pipeline, step } from '@cairn/core';
import { z } from 'zod';

const source = step({
  name: 'source',
  config: z.object({ n: z.number().int().positive() }),
  outputs: { numbers: json<number[]>() },
  run: ({ config }) => ({ numbers: Array.from({ length: config.n }, (_, i) => i + 1) }),
});
const double = step({
  name: 'double',
  inputs: { values: json<number[]>() },
  outputs: { values: json<number[]>() },
  run: ({ inputs }) => ({ values: inputs.values.map((v) => v * 2) }),
});
const square = step({
  name: 'square',
  inputs: { values: json<number[]>() },
  outputs: { values: json<number[]>() },
  run: ({ inputs }) => ({ values: inputs.values.map((v) => v * v) }),
});
const total = step({
  name: 'total',
  config: z.object({ scale: z.number() }),
  inputs: { doubled: json<number[]>(), squared: json<number[]>() },
  outputs: { summary: metrics() },
  run: ({ config, inputs }) => ({
    summary: {
      doubled: inputs.doubled.reduce((a, b) => a + b, 0) * config.scale,
      squared: inputs.squared.reduce((a, b) => a + b, 0) * config.scale,
    },
  }),
});

export const numbers = pipeline('numbers', () => {
  const { numbers } = source();
  const { values: doubled } = double({ values: numbers });
  const { values: squared } = square({ values: numbers });
  total({ doubled, squared });
}, { module: import.meta.url });
export default numbers;
`;

// One step that fails until its FLAKY_SUCCEED_AT-th call, counting its calls in FLAKY_COUNTER.
const FLAKY = `
import { appendFileSync, readFileSync } from 'node:fs';
import { json, pipeline, step } from '@cairn/core';

const flaky = step({
  name: 'flaky',
  outputs: { n: json<number>() },
  retries: { attempts: 2, backoffMs: 1 },
  cache: false,
  run: () => {
    appendFileSync(process.env.FLAKY_COUNTER!, 'x');
    const n = readFileSync(process.env.FLAKY_COUNTER!, 'utf8').length;
    if (n < Number(process.env.FLAKY_SUCCEED_AT)) throw new Error('flaky: attempt ' + n + ' failed');
    return { n };
  },
});

export const flakyPipeline = pipeline('flaky', () => {
  flaky();
}, { module: import.meta.url });
export default flakyPipeline;
`;

// src reads a secret and a URL from its own ${env:} references; after reads only src's output.
const SECRET = `
import { json, pipeline, step } from '@cairn/core';
import { z } from 'zod';

const src = step({
  name: 'src',
  config: z.object({ token: z.string().min(1), endpoint: z.string().url() }),
  outputs: { n: json<number>() },
  run: ({ config }) => ({ n: config.token.length }),
});
const after = step({
  name: 'after',
  inputs: { n: json<number>() },
  outputs: { n: json<number>() },
  run: ({ inputs }) => ({ n: inputs.n + 1 }),
});

export const secret = pipeline('secret', () => {
  const { n } = src();
  after({ n });
}, { module: import.meta.url });
export default secret;
`;

/** Per step of a run: its status and output digests, and its inputs' digests (the lineage). */
async function runShape(project: string, runId: string) {
  const metadata = sqliteMetadata({ file: join(project, '.cairn', 'metadata.db') });
  try {
    const executions: ExecutionRecord[] = await metadata.listExecutions(runId);
    const run = await metadata.getRun(runId);
    return {
      run,
      steps: Object.fromEntries(
        executions.map((e) => [
          e.step,
          {
            status: e.status,
            outputs: Object.fromEntries(Object.entries(e.outputs).map(([k, v]) => [k, v.digest])),
            inputs: Object.fromEntries(Object.entries(e.inputs).map(([k, v]) => [k, v.digest])),
          },
        ]),
      ),
      executions: executions.length,
    };
  } finally {
    await metadata.close?.();
  }
}

describe('cairn step exec: a run step by step, one process per step', () => {
  let project: string;

  beforeAll(async () => {
    project = await tempDir('step-exec');
    await symlink(REPO_NODE_MODULES, join(project, 'node_modules'));
    await writeFile(
      join(project, 'package.json'),
      '{ "name": "step-exec", "private": true, "type": "module" }\n',
    );
    await writeFile(
      join(project, 'cairn.config.ts'),
      [
        "import { defineConfig } from '@cairn/core';",
        "import { sqliteMetadata } from '@cairn/metadata-sqlite';",
        "import { inProcess, localStore } from '@cairn/runtime';",
        'export default defineConfig({',
        "  stack: { storage: localStore({ dir: '.cairn/artifacts' }), metadata: sqliteMetadata({ file: '.cairn/metadata.db' }), executor: inProcess() },",
        "  defaultPipeline: 'numbers',",
        '});',
        '',
      ].join('\n'),
    );
    await mkdir(join(project, 'pipelines'), { recursive: true });
    await mkdir(join(project, 'conf', 'base'), { recursive: true });
    await writeFile(join(project, 'pipelines', 'numbers.ts'), PIPELINE);
    await writeFile(join(project, 'pipelines', 'flaky.ts'), FLAKY);
    await writeFile(join(project, 'conf', 'base', 'source.yaml'), 'n: 6\n');
    await writeFile(join(project, 'conf', 'base', 'total.yaml'), 'scale: 1\n');
    await writeFile(join(project, 'pipelines', 'secret.ts'), SECRET);
    await writeFile(
      join(project, 'conf', 'base', 'src.yaml'),
      'token: ${env:STEP_TOKEN}\nendpoint: ${env:SVC_URL}\n',
    );
  });

  it('gives the digests and lineage of cairn run, refuses a step before its inputs, and is safe to retry', async () => {
    // The reference: one `cairn run` (with a --set that the recorded run must keep too).
    const reference = await cairn(['run', 'numbers', '--set', 'total.scale=3', '--json'], project);
    expect(reference.code, reference.stderr).toBe(0);
    const referenceId = JSON.parse(reference.stdout.split('\n')[0]!).runId as string;
    const expected = await runShape(project, referenceId);
    expect(Object.keys(expected.steps).sort()).toEqual(['double', 'source', 'square', 'total']);

    // A fresh stack, as on a cluster whose storage and metadata have never seen this pipeline.
    await rm(join(project, '.cairn'), { recursive: true, force: true });
    // Flags about how the steps run do not apply to a run only recorded: refused, nothing recorded.
    const refused = await cairn(['run', 'numbers', '--create', '--force', 'total', '--no-cache'], project);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--force, --no-cache do not apply/);
    expect(refused.stderr).toMatch(/CAIRN_USAGE/);
    const created = await cairn(['run', 'numbers', '--create', '--set', 'total.scale=3', '--json'], project);
    expect(created.code, created.stderr).toBe(0);
    const { runId, steps } = JSON.parse(created.stdout) as { runId: string; steps: string[] };
    expect(steps.sort()).toEqual(['double', 'source', 'square', 'total']);
    expect((await runShape(project, runId)).run?.status).toBe('running');
    expect((await runShape(project, runId)).executions).toBe(0);

    // The exported workflow says which commands run and in which order.
    const exported = await cairn(['export', 'github-actions', 'numbers', '--env', 'local'], project);
    expect(exported.code, exported.stderr).toBe(0);
    const jobs = parse(exported.stdout).jobs as Record<
      string,
      { needs?: string[]; steps: Array<{ run?: string }> }
    >;
    const commands = Object.fromEntries(
      Object.entries(jobs).map(([name, job]) => {
        const line = job.steps.map((s) => s.run ?? '').find((run) => run.includes('cairn step exec'))!;
        const args = /npx cairn (step exec .*)$/m.exec(line)![1]!.split(' ');
        return [name, args.map((arg) => (arg === '"$CAIRN_RUN_ID"' ? runId : arg))];
      }),
    );
    expect(commands.total).toEqual([
      'step',
      'exec',
      '--run',
      runId,
      '--step',
      'total',
      '--env',
      'local',
      '--single-attempt',
    ]);

    // A step whose inputs are not there yet is refused (exit 2), and nothing is recorded.
    const early = await cairn(commands.total!, project);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/Step "total" needs "double", which has not finished in run/);
    expect((await runShape(project, runId)).executions).toBe(0);

    // DAG order from the workflow's needs, each step its own process.
    const order: string[] = [];
    const pending = new Set(Object.keys(jobs));
    while (pending.size > 0) {
      const ready = [...pending].filter((name) => (jobs[name]!.needs ?? []).every((n) => order.includes(n)));
      expect(ready.length).toBeGreaterThan(0);
      for (const name of ready) {
        const result = await cairn(commands[name]!, project);
        expect(result.code, result.stderr).toBe(0);
        order.push(name);
        pending.delete(name);
      }
    }
    expect(order[0]).toBe('source');
    expect(order.at(-1)).toBe('total');

    const actual = await runShape(project, runId);
    expect(actual.run?.status).toBe('succeeded');
    expect(actual.run?.counts).toEqual({ executed: 4, cached: 0, failed: 0, skipped: 0 });
    for (const step of steps) {
      expect(actual.steps[step]!.status).toBe('succeeded');
      expect(actual.steps[step]!.outputs).toEqual(expected.steps[step]!.outputs);
      expect(actual.steps[step]!.inputs).toEqual(expected.steps[step]!.inputs);
    }
    // The --set given at creation reached the step: the scaled total is the reference's.
    expect(actual.steps.total!.outputs).toEqual(expected.steps.total!.outputs);

    // A retry of a finished step runs nothing and records nothing.
    const retry = await cairn([...commands.square!, '--json'], project);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout.trim().split('\n').at(-1)!).outcome.status).toBe('done');
    expect((await runShape(project, runId)).executions).toBe(4);

    // Lineage as cairn lineage shows it: total's summary comes from double and square in this run.
    const lineage = await cairn(['lineage', actual.steps.total!.outputs.summary!, '--json'], project);
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(lineage.stdout).toContain(actual.steps.double!.outputs.values!);
    expect(lineage.stdout).toContain(actual.steps.square!.outputs.values!);
  });

  it('refuses an unknown run or step (exit 2)', async () => {
    const unknownRun = await cairn(['step', 'exec', '--run', 'r_nope', '--step', 'source'], project);
    expect(unknownRun.code).toBe(2);
    expect(unknownRun.stderr).toMatch(/No run r_nope/);
    const created = await cairn(['run', 'numbers', '--create'], project);
    expect(created.code, created.stderr).toBe(0);
    const unknownStep = await cairn(
      ['step', 'exec', '--run', created.stdout.trim(), '--step', 'sorce'],
      project,
    );
    expect(unknownStep.code).toBe(2);
    expect(unknownStep.stderr).toMatch(/"sorce" is not a step of pipeline "numbers"/);
  });

  it("the exported retry loop makes exactly the step's attempts, and a recovered run shows no error", async () => {
    const exported = await cairn(['export', 'github-actions', 'flaky', '--env', 'local'], project);
    expect(exported.code, exported.stderr).toBe(0);
    const script: string = parse(exported.stdout).jobs.flaky.steps.at(-1).run;
    // The job's script as a runner runs it (bash -e), `npx cairn` being this checkout's CLI.
    const npx = `npx() { shift; ${JSON.stringify(process.execPath)} ${JSON.stringify(DEV_ENTRY)} "$@"; }\n`;
    const counter = join(project, 'flaky-calls');
    const attempt = async (succeedAt: number) => {
      await rm(counter, { force: true });
      const created = await cairn(['run', 'flaky', '--create'], project);
      expect(created.code, created.stderr).toBe(0);
      const runId = created.stdout.trim();
      const job = spawnSync('bash', ['-e', '-c', npx + script], {
        cwd: project,
        env: {
          ...process.env,
          NO_COLOR: '1',
          CAIRN_RUN_ID: runId,
          FLAKY_COUNTER: counter,
          FLAKY_SUCCEED_AT: String(succeedAt),
        },
      });
      const calls = existsSync(counter) ? (await readFile(counter, 'utf8')).length : 0;
      return { runId, status: job.status, calls };
    };

    // retries: { attempts: 2 } is 3 attempts in all, not 3 per process of the loop.
    const failing = await attempt(100);
    expect({ status: failing.status, calls: failing.calls }).toEqual({ status: 1, calls: 3 });
    expect((await runShape(project, failing.runId)).run?.status).toBe('failed');

    // Fails twice, then succeeds on the engine's last retry: the run ends succeeded with no error left.
    const recovered = await attempt(3);
    expect({ status: recovered.status, calls: recovered.calls }).toEqual({ status: 0, calls: 3 });
    const { run } = await runShape(project, recovered.runId);
    expect(run?.status).toBe('succeeded');
    expect(run?.error ?? '').toBe('');
    const shown = await cairn(['runs', 'show', recovered.runId], project);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/succeeded/);
    // The failed attempts stay in the step table; the run itself carries no error.
    expect(shown.stdout).not.toMatch(/^\s*error:/m);
  });

  it('runs a step with its recorded config when conf/ changed since, and warns naming the step', async () => {
    const created = await cairn(['run', 'numbers', '--create'], project);
    expect(created.code, created.stderr).toBe(0);
    const runId = created.stdout.trim();
    const conf = join(project, 'conf', 'base', 'source.yaml');
    await writeFile(conf, 'n: 7\n');
    try {
      const edited = await cairn(['step', 'exec', '--run', runId, '--step', 'source', '--json'], project);
      expect(edited.code, edited.stderr).toBe(0);
      expect(edited.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
        new RegExp(`conf/ here gives "source" another config than run ${runId} recorded`),
      );
      const result = JSON.parse(edited.stdout.trim().split('\n').at(-1)!);
      expect(result.configDrift).toMatch(/"source"/);
      // The recorded n: 6, not conf/'s 7.
      const out = join(project, 'source-numbers.json');
      const got = await cairn(
        ['artifacts', 'get', result.outcome.outputs.numbers.digest, '--out', out],
        project,
      );
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(await readFile(out, 'utf8'))).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await writeFile(conf, 'n: 6\n');
    }
    // conf/ as recorded: no warning.
    const same = await cairn(['step', 'exec', '--run', runId, '--step', 'double'], project);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).not.toMatch(/Warning/);
  });

  it("runs a step without another step's ${env:} variables, and refuses its own unset one (exit 2)", async () => {
    const vars = { STEP_TOKEN: 'tok-4f9a2c', SVC_URL: 'http://svc.example' };
    const created = await cairn(['run', 'secret', '--create'], project, vars);
    expect(created.code, created.stderr).toBe(0);
    const runId = created.stdout.trim();
    const exec = (step: string, env: NodeJS.ProcessEnv = {}) =>
      cairn(['step', 'exec', '--run', runId, '--step', step, '--single-attempt'], project, env);

    // src without its own STEP_TOKEN: a config error naming the variable, never a value.
    const missing = await exec('src', { SVC_URL: vars.SVC_URL });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/CAIRN_CONFIG_ENV_MISSING/);
    expect(missing.stderr).toMatch(/STEP_TOKEN/);
    expect(missing.stderr).not.toContain(vars.STEP_TOKEN);

    // With its variables src runs; its URL is checked as a URL, not as the text ${env:SVC_URL}.
    const src = await exec('src', vars);
    expect(src.code, src.stderr).toBe(0);
    expect(src.stderr).not.toMatch(/Warning/);

    // after, as its exported job runs it: no STEP_TOKEN, no SVC_URL (src's, not its own).
    const after = await exec('after');
    expect(after.code, after.stderr).toBe(0);
    const { run, steps } = await runShape(project, runId);
    expect(run?.status).toBe('succeeded');
    expect(Object.keys(steps).sort()).toEqual(['after', 'src']);
  });
});
