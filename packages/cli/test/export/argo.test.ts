import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Workflow, WorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cairn } from '../helpers';
import { AWKWARD_NAMES, fixtureProject, writeNamesPipeline } from './project';

// The fixture's pipeline: ingest → train_model → (summarize, register); team env with S3 + PostgreSQL by reference.
const STACK_VARS = ['ARTIFACT_BUCKET', 'DATABASE_URL', 'S3_ENDPOINT'];
let dir: string;

beforeAll(async () => {
  dir = await fixtureProject('export-argo');
});

const secretsOf = (container: any) =>
  (container.env ?? []).map((e: any) => {
    // By reference only: a literal value would be a secret written into the manifest.
    expect(e.value).toBeUndefined();
    expect(e.valueFrom.secretKeyRef.key).toBe(e.name);
    return `${e.valueFrom.secretKeyRef.name}/${e.name}`;
  });

describe('cairn export argo', () => {
  it('renders a Workflow that validates, one DAG task per step running cairn step exec', async () => {
    const result = await cairn(
      [
        'export',
        'argo',
        'training',
        '--image',
        'registry.example.com/shop:1.4.0',
        '--resources',
        'train_model=2:4Gi',
        '--resources',
        '*=250m:512Mi',
      ],
      dir,
      // Values present in this environment must not reach the output: only names do.
      { ARTIFACT_BUCKET: 'bucket-value-never-written', INGEST_TOKEN: 'token-value-never-written' },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('never-written');
    // The team env shares S3 storage and PostgreSQL metadata: nothing to warn about.
    expect(result.stderr).not.toMatch(/Warning/);
    const doc = parse(result.stdout);
    expect(() => new Workflow(doc).validate()).not.toThrow();
    expect(doc.kind).toBe('Workflow');
    expect(doc.metadata.generateName).toBe('training-');
    expect(doc.spec.arguments.parameters).toEqual([{ name: 'run' }]);

    const dag = doc.spec.templates.find((t: any) => t.name === doc.spec.entrypoint).dag;
    expect(dag.tasks).toEqual([
      { name: 'ingest', template: 'ingest' },
      { name: 'train-model', template: 'train-model', dependencies: ['ingest'] },
      { name: 'summarize', template: 'summarize', dependencies: ['train-model'] },
      { name: 'register', template: 'register', dependencies: ['train-model'] },
    ]);
    const template = (name: string) => doc.spec.templates.find((t: any) => t.name === name);
    for (const [task, step] of [
      ['ingest', 'ingest'],
      ['train-model', 'train_model'],
      ['summarize', 'summarize'],
      ['register', 'register'],
    ]) {
      const container = template(task!).container;
      expect(container.image).toBe('registry.example.com/shop:1.4.0');
      expect([...container.command, ...container.args].join(' ')).toBe(
        // One attempt per task: Argo makes the retries.
        `cairn step exec --run {{workflow.parameters.run}} --step ${step} --env team --single-attempt`,
      );
    }
    // Each step reads the stack's variables and only its own config's.
    expect(secretsOf(template('ingest').container)).toEqual(
      [...STACK_VARS, 'INGEST_TOKEN'].sort().map((n) => `cairn/${n}`),
    );
    expect(secretsOf(template('train-model').container)).toEqual(
      [...STACK_VARS, 'TEAM_NOTE'].sort().map((n) => `cairn/${n}`),
    );
    expect(secretsOf(template('register').container)).toEqual(STACK_VARS.map((n) => `cairn/${n}`));

    // Retries: train_model { attempts: 2, backoffMs: 1000 }, summarize 1 (default backoff 200 ms), the others none.
    // Exit 2 (a usage or config error) is not retried.
    expect(template('train-model').retryStrategy).toEqual({
      limit: 2,
      retryPolicy: 'Always',
      expression: 'asInt(lastRetry.exitCode) != 2',
      backoff: { duration: '1s', factor: 2 },
    });
    expect(template('summarize').retryStrategy.limit).toBe(1);
    expect(template('summarize').retryStrategy.backoff.duration).toBe('200ms');
    expect(template('ingest').retryStrategy).toBeUndefined();
    // Its 10 min timeout and a minute for the process around it (one attempt per pod).
    expect(template('train-model').activeDeadlineSeconds).toBe(660);

    expect(template('train-model').container.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' } });
    expect(template('ingest').container.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' } });
  });

  it('turns every node name into a distinct DNS label of at most 63 characters', async () => {
    await writeNamesPipeline(dir, 'names', AWKWARD_NAMES);
    const result = await cairn(['export', 'argo', 'names', '--image', 'shop:1'], dir);
    expect(result.code, result.stderr).toBe(0);
    const doc = parse(result.stdout);
    expect(() => new Workflow(doc).validate()).not.toThrow();
    const dag = doc.spec.templates.find((t: any) => t.name === doc.spec.entrypoint).dag;
    const names: string[] = dag.tasks.map((task: any) => task.name);
    expect(names.slice(0, 3)).toEqual(['load-data', '9lives', 'has-space']);
    // Long ones cut, each with a hash of its full name; one with no letter or digit named by its hash.
    expect(names[3]).toMatch(/^train-the-.*-[0-9a-f]{8}$/);
    expect(names[5]).toMatch(/^cairn-[0-9a-f]{8}$/);
    expect(new Set(names).size).toBe(AWKWARD_NAMES.length);
    for (const name of names) {
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.length).toBeLessThanOrEqual(63);
    }
    for (const task of dag.tasks.slice(1)) expect(task.dependencies).toEqual(['load-data']);
    for (const template of doc.spec.templates.slice(1)) {
      for (const value of Object.values(template.metadata.labels) as string[]) {
        expect(value.length).toBeLessThanOrEqual(63);
      }
    }
    // `--step` keeps the node's own name.
    const steps = doc.spec.templates
      .slice(1)
      .map((t: any) => t.container.args[t.container.args.indexOf('--step') + 1]);
    expect(steps).toEqual(AWKWARD_NAMES);
  });

  it('--template renders a WorkflowTemplate with the pipeline name, and --out writes the same YAML atomically', async () => {
    const out = join(dir, 'training.argo.yaml');
    const written = await cairn(
      [
        'export',
        'argo',
        '--image',
        'shop:dev',
        '--template',
        '--secret',
        'shop-secrets',
        '--namespace',
        'ml',
        '--out',
        out,
      ],
      dir,
    );
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toBe('');
    const stdout = await cairn(
      [
        'export',
        'argo',
        '--image',
        'shop:dev',
        '--template',
        '--secret',
        'shop-secrets',
        '--namespace',
        'ml',
      ],
      dir,
    );
    const text = await readFile(out, 'utf8');
    expect(text).toBe(stdout.stdout);
    const doc = parse(text);
    expect(() => new WorkflowTemplate(doc).validate()).not.toThrow();
    expect(doc).toMatchObject({ kind: 'WorkflowTemplate', metadata: { name: 'training', namespace: 'ml' } });
    expect(doc.metadata.generateName).toBeUndefined();
    expect(text).toContain('name: shop-secrets');
    // No temporary file left beside it.
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('warns when the environment is not shared by steps on other machines (--env local)', async () => {
    const result = await cairn(['export', 'argo', '--image', 'shop:1', '--env', 'local'], dir);
    expect(result.code, result.stderr).toBe(0);
    const stderr = result.stderr.replace(/\s+›?\s*/g, ' ');
    expect(stderr).toMatch(/storage of env local \(local\) is not shared/);
    expect(stderr).toMatch(/metadata store of env local \(the embedded SQLite file\) is not shared/);
    const doc = parse(result.stdout);
    expect(() => new Workflow(doc).validate()).not.toThrow();
    expect(doc.spec.templates[1].container.args.slice(-2)).toEqual(['local', '--single-attempt']);
  });

  it('the validator is a real check: a task without a template name is refused', () => {
    expect(() =>
      new Workflow({
        metadata: { generateName: 'x-' },
        spec: { entrypoint: 'pipeline', templates: [{ name: 'pipeline', dag: { tasks: [{ name: 7 }] } }] },
      } as never).validate(),
    ).toThrow();
  });

  it('refuses bad input with a coded error (exit 2) and writes nothing', async () => {
    const out = join(dir, 'refused.yaml');
    const cases: Array<[string[], RegExp]> = [
      [
        ['export', 'argo', 'nope', '--image', 'shop:1'],
        /Unknown pipeline "nope"[\s\S]*CAIRN_PIPELINE_NOT_FOUND/,
      ],
      [
        ['export', 'argo', '--image', 'shop:1', '--env', 'prod'],
        /Unknown environment "prod"[\s\S]*CAIRN_STACK_INVALID[\s\S]*cairn add storage-s3/,
      ],
      [['export', 'argo', '--image', 'shop:1', '--resources', 'train=1:1Gi'], /no step "train"/],
      [['export', 'argo', '--image', 'shop:1', '--resources', 'ingest=lots:1Gi'], /cpu "lots"/],
      [['export', 'argo', '--image', 'shop:1', '--resources', 'ingest=1'], /expected <step>=<cpu>:<memory>/],
      [
        ['export', 'argo', '--image', 'shop:1', '--secret', 'Bad_Name'],
        /--secret "Bad_Name" is not a Kubernetes name/,
      ],
      [['export', 'argo', '--image', 'two words'], /--image "two words"/],
      [['export', 'argo'], /Missing required flag[\s\S]*image/],
    ];
    for (const [args, message] of cases) {
      const result = await cairn([...args, '--out', out], dir);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(2);
      expect(result.stderr.replace(/\s+›?\s*/g, ' '), args.join(' ')).toMatch(message);
      expect(existsSync(out), args.join(' ')).toBe(false);
    }
  });

  it('an invalid step config stops the export as it would stop a run (CAIRN_CONFIG_INVALID, exit 2)', async () => {
    const conf = join(dir, 'conf', 'team', 'train_model.yaml');
    const before = await readFile(conf, 'utf8');
    await writeFile(conf, 'value: not-a-number\n');
    try {
      const out = join(dir, 'invalid.yaml');
      const result = await cairn(['export', 'argo', '--image', 'shop:1', '--out', out], dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/CAIRN_CONFIG_INVALID/);
      expect(result.stderr).toMatch(/value/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await writeFile(conf, before);
    }
  });

  it('--help shows examples', async () => {
    const help = await cairn(['export', 'argo', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/EXAMPLES[\s\S]*cairn export argo training --image/);
    expect(help.stdout).toMatch(/--resources/);
  });
});
