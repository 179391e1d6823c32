import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cairn } from '../helpers';
import { AWKWARD_NAMES, fixtureProject, LONG, writeNamesPipeline } from './project';

let dir: string;

beforeAll(async () => {
  dir = await fixtureProject('export-gha');
});

/** GitHub's own parser: schema errors, then the converted workflow (jobs with their needs). */
async function githubParse(content: string) {
  const parsed = parseWorkflow({ name: 'cairn-training.yml', content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (!parsed.value) return { errors, jobs: [] as Array<{ id: string; needs: string[] }> };
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  const jobs = (template.jobs ?? []).map((job: any) => ({
    id: job.id.value as string,
    needs: ((job.needs ?? []) as any[]).map((n) => n.value as string),
  }));
  return { errors: [...errors, ...(template.errors ?? []).map((e) => e.Message)], jobs };
}

describe('cairn export github-actions', () => {
  it('renders a workflow GitHub parses without errors: one job per step, needs from the DAG', async () => {
    const result = await cairn(['export', 'github-actions', 'training'], dir, {
      DATABASE_URL: 'postgres://app:value-never-written@db/cairn',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('never-written');
    expect(result.stderr).not.toMatch(/Warning/);
    const { errors, jobs } = await githubParse(result.stdout);
    expect(errors).toEqual([]);
    expect(jobs).toEqual([
      { id: 'ingest', needs: [] },
      { id: 'train_model', needs: ['ingest'] },
      { id: 'summarize', needs: ['train_model'] },
      { id: 'register', needs: ['train_model'] },
    ]);

    const doc = parse(result.stdout);
    expect(doc.on.workflow_dispatch.inputs.run).toMatchObject({ required: true, type: 'string' });
    const exec = (job: string) => doc.jobs[job].steps.at(-1);
    expect(exec('ingest').run).toBe(
      'npx cairn step exec --run "$CAIRN_RUN_ID" --step ingest --env team --single-attempt',
    );
    expect(exec('ingest').env).toEqual({
      CAIRN_RUN_ID: '${{ inputs.run }}',
      ARTIFACT_BUCKET: '${{ secrets.ARTIFACT_BUCKET }}',
      DATABASE_URL: '${{ secrets.DATABASE_URL }}',
      INGEST_TOKEN: '${{ secrets.INGEST_TOKEN }}',
      S3_ENDPOINT: '${{ secrets.S3_ENDPOINT }}',
    });
    // train_model retries twice, 1 s then 2 s apart. Its step's timeout covers every attempt (3 ×
    // (10 min + 1 min for the process)) and the backoff: 34 min; the job's setup is not counted in it.
    expect(exec('train_model').run).toContain('for delay in 1 2; do');
    expect(exec('train_model').run.match(/npx cairn step exec/g)).toHaveLength(2);
    expect(exec('train_model')['timeout-minutes']).toBe(34);
    expect(doc.jobs.train_model['timeout-minutes']).toBeUndefined();
    expect(exec('summarize').run).toContain('for delay in 0.2; do');
    expect(exec('register')['timeout-minutes']).toBeUndefined();
  });

  it('the retry loop runs: it stops at the first success and fails after the last attempt', async () => {
    const { spawnSync } = await import('node:child_process');
    const doc = parse((await cairn(['export', 'github-actions'], dir)).stdout);
    const script: string = doc.jobs.summarize.steps.at(-1).run;
    // Stand-in for npx: fails until its counter file reaches FAILS, counting calls.
    const counter = join(dir, 'calls');
    const fake = `npx() { n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; [ $n -gt "$FAILS" ]; }\n`;
    const run = (fails: number) => {
      spawnSync('rm', ['-f', counter]);
      const r = spawnSync('bash', ['-e', '-c', fake + script], {
        env: { ...process.env, FAILS: String(fails), CAIRN_RUN_ID: 'r1' },
      });
      return { status: r.status, calls: Number(spawnSync('cat', [counter]).stdout.toString()) };
    };
    expect(run(0)).toEqual({ status: 0, calls: 1 });
    expect(run(1)).toEqual({ status: 0, calls: 2 });
    expect(run(2)).toEqual({ status: 1, calls: 2 });
    // Exit 2 is a usage or config error: not retried, and the job fails with it.
    const usage = `npx() { n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n+1)) > ${counter}; return 2; }\n`;
    spawnSync('rm', ['-f', counter]);
    const refused = spawnSync('bash', ['-e', '-c', usage + script], {
      env: { ...process.env, CAIRN_RUN_ID: 'r1' },
    });
    expect({ status: refused.status, calls: Number(spawnSync('cat', [counter]).stdout.toString()) }).toEqual({
      status: 2,
      calls: 1,
    });
  });

  it('turns node names GitHub refuses into job ids it accepts, distinct, needs following them', async () => {
    await writeNamesPipeline(dir, 'names', AWKWARD_NAMES);
    const result = await cairn(['export', 'github-actions', 'names'], dir);
    expect(result.code, result.stderr).toBe(0);
    const { errors, jobs } = await githubParse(result.stdout);
    expect(errors).toEqual([]);
    const ids = jobs.map((job) => job.id);
    expect(ids.slice(0, 6)).toEqual(['load_data', '_9lives', 'has_space', `${LONG}a`, `${LONG}b`, '_']);
    // Too long (GitHub takes under 100 characters): cut, with a hash of the full name.
    expect(ids[6]).toMatch(/^train_the_.*_[0-9a-f]{8}$/);
    expect(ids[6]!.length).toBeLessThan(100);
    expect(jobs.slice(1).map((job) => job.needs)).toEqual(Array(6).fill(['load_data']));
    // The job's name and `--step` keep the node's own name.
    const doc = parse(result.stdout);
    expect(doc.jobs.has_space.name).toBe('has space');
    expect(doc.jobs.has_space.steps.at(-1).run).toContain("--step 'has space' ");
    expect(doc.jobs[ids[6]!].steps.at(-1).run).toContain(`--step ${LONG}${LONG}c `);

    // Two names that would become one id: refused, naming both.
    await writeNamesPipeline(dir, 'clash', ['load.data', 'load_data']);
    const out = join(dir, 'clash.yml');
    const clash = await cairn(['export', 'github-actions', 'clash', '--out', out], dir);
    expect(clash.code).toBe(2);
    expect(clash.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /Steps "load.data" and "load_data" both become.*CAIRN_USAGE/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('the parser is a real check: a schema error and a DAG error are both reported', async () => {
    const schema = await githubParse('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n');
    expect(schema.errors.join('\n')).toMatch(/Unexpected value 'stepz'/);
    const dag = await githubParse(
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [a]\n    steps:\n      - run: "true"\n',
    );
    expect(dag.errors.join('\n')).toMatch(/at least one job with no dependencies/);
  });

  it('--out writes the file; bad input exits 2 and writes nothing', async () => {
    const out = join(dir, 'cairn-training.yml');
    const ok = await cairn(
      ['export', 'github-actions', '--runs-on', 'self-hosted', '--node', '22', '--out', out],
      dir,
    );
    expect(ok.code, ok.stderr).toBe(0);
    const doc = parse(await readFile(out, 'utf8'));
    expect(doc.jobs.ingest['runs-on']).toBe('self-hosted');
    expect(doc.jobs.ingest.steps[1].with['node-version']).toBe('22');

    const refused = join(dir, 'refused.yml');
    for (const [args, message] of [
      [['export', 'github-actions', 'nope'], /Unknown pipeline "nope"/],
      [['export', 'github-actions', '--env', 'staging'], /Unknown environment "staging"/],
      [['export', 'github-actions', '--node', 'latest!'], /--node "latest!"/],
      [['export', 'github-actions', '--runs-on', 'a b'], /--runs-on "a b"/],
      [['export', 'github-actions', '--out', join(dir, 'cairn.config.ts', 'x.yml')], /cannot write there/],
    ] as Array<[string[], RegExp]>) {
      const result = await cairn([...args, ...(args.includes('--out') ? [] : ['--out', refused])], dir);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(2);
      expect(result.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(message);
      expect(existsSync(refused)).toBe(false);
    }
  });

  it('--help shows examples', async () => {
    const help = await cairn(['export', 'github-actions', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/EXAMPLES[\s\S]*cairn export github-actions training --out/);
  });
});
