// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax under test, not a mistyped template.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CairnError } from '@cairn/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configEntries, explainConfig, resolveStepConfigs } from './resolve';

let project: string;
let confDir: string;

beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'cairn-config-'));
  confDir = join(project, 'conf');
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

async function write(path: string, text: string) {
  const file = join(confDir, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
}

async function failure(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

const trainSchema = z.object({
  trees: z.number().int().positive(),
  seed: z.number().int(),
  model: z.object({ depth: z.number(), layers: z.array(z.number()) }),
});

describe('resolveStepConfigs', () => {
  it('merges base < env < --set, objects deeply, arrays replaced', async () => {
    await write(
      'base/train.yaml',
      'trees: 200\nseed: 42\nmodel:\n  depth: 4\n  layers: [64, 32, 16]\n  activation: relu\n',
    );
    await write('ci/train.yaml', 'trees: 10\nmodel:\n  layers: [8]\n');
    const configs = await resolveStepConfigs({
      confDir,
      env: 'ci',
      steps: [{ name: 'train' }],
      overrides: ['train.seed=7', 'train.model.depth=2'],
    });
    const train = configs.train!;
    expect(train.stored).toEqual({
      trees: 10,
      seed: 7,
      model: { depth: 2, layers: [8], activation: 'relu' },
    });
    expect(train.value).toEqual(train.stored);
    expect(train.sources.trees).toEqual({ source: 'conf/ci/train.yaml', line: 1 });
    expect(train.sources.seed).toEqual({ source: '--set' });
    expect(train.sources['model.depth']).toEqual({ source: '--set' });
    expect(train.sources['model.layers']).toEqual({ source: 'conf/ci/train.yaml', line: 3 });
    expect(train.sources['model.layers.0']).toEqual({ source: 'conf/ci/train.yaml', line: 3 });
    expect(train.sources['model.layers.1']).toBeUndefined();
    expect(train.sources['model.activation']).toEqual({ source: 'conf/base/train.yaml', line: 6 });
  });

  it('reads .yml and .json files, ignores other envs and steps outside the pipeline', async () => {
    await write('base/prepare.yml', 'ratio: 0.8\n');
    await write('base/train.json', '{\n  "trees": 5\n}\n');
    await write('prod/train.yaml', 'trees: 999\n');
    await write('base/unused.yaml', ': : not yaml [\n');
    const configs = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'prepare' }, { name: 'train' }],
    });
    expect(configs.prepare!.stored).toEqual({ ratio: 0.8 });
    expect(configs.train!.stored).toEqual({ trees: 5 });
    expect(configs.train!.sources.trees).toEqual({ source: 'conf/base/train.json', line: 2 });
  });

  it('parses --set values as YAML scalars', async () => {
    const configs = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'train' }],
      overrides: [
        'train.n=3',
        'train.f=0.5',
        'train.b=true',
        'train.list=[1, 2]',
        'train.obj={a: 1}',
        'train.quoted="3"',
        "train.single='true'",
        'train.word=hello world',
        'train.url=postgres://h:5432/db',
        'train.nothing=null',
        'train.empty=',
        'train.eq=a=b',
      ],
    });
    expect(configs.train!.stored).toEqual({
      n: 3,
      f: 0.5,
      b: true,
      list: [1, 2],
      obj: { a: 1 },
      quoted: '3',
      single: 'true',
      word: 'hello world',
      url: 'postgres://h:5432/db',
      nothing: null,
      empty: '',
      eq: 'a=b',
    });
  });

  it('gives a step with no file and no schema {}, and a schema that accepts {} its parsed defaults', async () => {
    const configs = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'ingest' }, { name: 'train', schema: z.object({ trees: z.number().default(100) }) }],
    });
    expect(configs.ingest).toEqual({ value: {}, stored: {}, sources: {}, secrets: new Map() });
    expect(configs.train!.value).toEqual({ trees: 100 });
    expect(configs.train!.stored).toEqual({});
  });

  it('uses inline configs in place of conf/base, with env and --set still merged over them', async () => {
    await write('base/train.yaml', 'trees: 1\nseed: 1\n');
    await write('ci/train.yaml', 'seed: 2\n');
    const configs = await resolveStepConfigs({
      confDir,
      env: 'ci',
      steps: [{ name: 'train' }],
      inline: { train: { trees: 50, extra: { a: 1 } } },
      overrides: { train: { extra: { b: 2 } } },
    });
    expect(configs.train!.stored).toEqual({ trees: 50, seed: 2, extra: { a: 1, b: 2 } });
    expect(configs.train!.sources.trees).toEqual({ source: 'inline' });
    expect(configs.train!.sources['extra.b']).toEqual({ source: '--set' });
  });

  it('reports a zod error with file:line and key path, naming expected and received', async () => {
    await write('base/train.yaml', 'trees: 200\nseed: 42\nmodel:\n  depth: 4\n  layers: [1]\n');
    await write('ci/train.yaml', '# CI is small\n\ntrees: lots\n');
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'ci', steps: [{ name: 'train', schema: trainSchema }] }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ source: 'conf/ci/train.yaml:3', path: ['trees'] });
    expect(error.issues[0]!.message).toMatch(/expected number, received string/);
    expect(error.message).toContain('conf/ci/train.yaml:3 → trees: ');
  });

  it('points a nested error at the line of the nested key, and a missing key at the file', async () => {
    await write('base/train.yaml', 'trees: 200\nmodel:\n  depth: deep\n  layers: [1, two]\n');
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train', schema: trainSchema }] }),
    );
    const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path!.join('.'), issue.source]));
    expect(byPath).toEqual({
      seed: 'conf/base/train.yaml',
      'model.depth': 'conf/base/train.yaml:3',
      'model.layers.1': 'conf/base/train.yaml:4',
    });
  });

  it('reports an error from --set with the step and key, and a missing file as not found', async () => {
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        steps: [{ name: 'train', schema: z.object({ trees: z.number(), seed: z.number() }) }],
        overrides: ['train.trees=many'],
      }),
    );
    const issues = error.issues.map((issue) => [issue.source, issue.path?.join('.')]);
    expect(issues).toEqual([
      ['--set', 'train.trees'],
      ['conf/base/train.yaml (not found)', 'seed'],
    ]);
  });

  it('collects errors of several kinds in several steps into one CAIRN_CONFIG_INVALID', async () => {
    await write('base/train.yaml', 'trees: -1\nseed: 1.5\nmodel: {depth: 1, layers: []}\n');
    await write('base/evaluate.yaml', 'threshold: high\n');
    await write('base/prepare.yaml', 'ratio: [unclosed\n');
    await write('base/deploy.yaml', 'url: ${env:CAIRN_TEST_UNSET_URL}\n');
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        environment: {},
        steps: [
          { name: 'prepare', schema: z.object({ ratio: z.number() }) },
          { name: 'train', schema: trainSchema },
          { name: 'evaluate', schema: z.object({ threshold: z.number() }) },
          { name: 'deploy', schema: z.object({ url: z.string().url() }) },
        ],
        overrides: ['gate.min=1'],
      }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    const where = error.issues.map((issue) => `${issue.source} ${issue.path?.join('.') ?? ''}`.trim());
    expect(where).toEqual(
      expect.arrayContaining([
        '--set gate',
        'conf/base/prepare.yaml:2',
        'conf/base/train.yaml:1 trees',
        'conf/base/train.yaml:2 seed',
        'conf/base/evaluate.yaml:1 threshold',
        'conf/base/deploy.yaml:1 url',
      ]),
    );
    // The unset variable is reported once, not again as an invalid URL.
    expect(error.issues).toHaveLength(6);
    expect(error.message).toMatch(/6 problems in steps/);
    expect(error.message).toContain('CAIRN_TEST_UNSET_URL');
  });

  it('uses the specific code when only one kind of problem occurs', async () => {
    await write('base/a.yaml', 'x: [1\n');
    await write('base/b.yaml', '- just\n- a list\n');
    const unreadable = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'a' }, { name: 'b' }] }),
    );
    expect(unreadable.code).toBe('CAIRN_CONFIG_UNREADABLE');
    expect(unreadable.issues.map((issue) => issue.source)).toEqual([
      'conf/base/a.yaml:2',
      'conf/base/b.yaml:1',
    ]);
    expect(unreadable.issues[1]!.message).toMatch(/must be a mapping.*got a list/);

    const override = await failure(
      resolveStepConfigs({
        confDir: join(project, 'none'),
        env: 'local',
        steps: [{ name: 'train' }],
        overrides: ['tran.trees=1', 'train'],
      }),
    );
    expect(override.code).toBe('CAIRN_CONFIG_OVERRIDE_INVALID');
    expect(override.issues).toHaveLength(2);
    expect(override.message).toContain('"tran" is not a step of this pipeline (steps: train)');
  });

  it('reports duplicate keys and two files for one step', async () => {
    await write('base/train.yaml', 'trees: 1\ntrees: 2\n');
    await write('base/evaluate.yaml', 'a: 1\n');
    await write('base/evaluate.json', '{"a": 1}');
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train' }, { name: 'evaluate' }] }),
    );
    expect(error.issues.map((issue) => issue.source)).toEqual(['conf/base/train.yaml:2', 'conf/base']);
    expect(error.issues[1]!.message).toContain('evaluate.json, evaluate.yaml');
  });

  it('points unknown keys of a strict schema at their own lines', async () => {
    await write('base/train.yaml', 'trees: 1\ntress: 2\nmodel:\n  dept: 3\n');
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        steps: [{ name: 'train', schema: z.strictObject({ trees: z.number(), model: z.strictObject({}) }) }],
      }),
    );
    const bySource = [...error.issues].sort((a, b) => a.source!.localeCompare(b.source!));
    expect(bySource).toEqual([
      { source: 'conf/base/train.yaml:2', path: ['tress'], message: 'unknown key (did you mean `trees`?)' },
      { source: 'conf/base/train.yaml:4', path: ['model', 'dept'], message: 'unknown key' },
    ]);
  });

  it('refuses keys a plain z.object would strip, in files and --set, nested too, with a suggestion', async () => {
    await write('base/train.yaml', 'trees: 1\nmaxDepht: 3\nmodel:\n  layers: 2\n  dropot: 0.1\n');
    const schema = z.object({
      trees: z.number(),
      maxDepth: z.number().default(4),
      model: z.object({ layers: z.number(), dropout: z.number().optional() }),
    });
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        overrides: ['train.tress=300'],
        steps: [{ name: 'train', schema }],
      }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    const bySource = [...error.issues].sort((a, b) => a.source!.localeCompare(b.source!));
    expect(bySource).toEqual([
      { source: '--set', path: ['train', 'tress'], message: 'unknown key (did you mean `trees`?)' },
      {
        source: 'conf/base/train.yaml:2',
        path: ['maxDepht'],
        message: 'unknown key (did you mean `maxDepth`?)',
      },
      {
        source: 'conf/base/train.yaml:5',
        path: ['model', 'dropot'],
        message: 'unknown key (did you mean `dropout`?)',
      },
    ]);
  });

  it('refuses typos inside lists, tuples, records, unions, discriminated unions and intersections', async () => {
    await write(
      'base/net.yaml',
      [
        'layers:',
        '  - size: 64',
        '    droput: 0.5',
        '  - size: 32',
        'model:',
        '  kind: forest',
        '  tres: 500',
        'optimizer:',
        '  name: adam',
        '  learning_rate: 0.001',
        'pair:',
        '  - { a: 1, extra: 2 }',
        'heads:',
        '  price: { weight: 1, wieght: 2 }',
        'both: { left: 1, right: 2, rigth: 3 }',
        '',
      ].join('\n'),
    );
    const schema = z.object({
      layers: z.array(z.object({ size: z.number().int(), dropout: z.number().default(0) })).default([]),
      model: z
        .discriminatedUnion('kind', [
          z.object({ kind: z.literal('forest'), trees: z.number().default(100) }),
          z.object({ kind: z.literal('linear'), l2: z.number().default(0) }),
        ])
        .default({ kind: 'forest', trees: 100 }),
      optimizer: z.union([z.literal('sgd'), z.object({ name: z.string(), lr: z.number().default(0.1) })]),
      pair: z.tuple([z.object({ a: z.number() })]).optional(),
      heads: z.record(z.string(), z.object({ weight: z.number() })),
      both: z.intersection(z.object({ left: z.number() }), z.object({ right: z.number() })),
    });
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'net', schema }] }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    const issues = error.issues.map((issue) => [issue.path?.join('.'), issue.message]);
    expect(issues.sort()).toEqual(
      [
        ['layers.0.droput', 'unknown key (did you mean `dropout`?)'],
        ['model.tres', 'unknown key (did you mean `trees`?)'],
        ['optimizer.learning_rate', 'unknown key (known keys: name, lr)'],
        ['pair.0.extra', 'unknown key (known keys: a)'],
        ['heads.price.wieght', 'unknown key (did you mean `weight`?)'],
        ['both.rigth', 'unknown key (did you mean `right`?)'],
      ].sort(),
    );
    // Each at its own line of the file.
    expect(error.issues.find((issue) => issue.path?.join('.') === 'layers.0.droput')?.source).toBe(
      'conf/base/net.yaml:3',
    );
  });

  it('names a typo even when the schema also refuses the config (the key it meant is missing)', async () => {
    await write('base/train.yaml', 'trees: 1\nmaxDepht: 3\n');
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        steps: [{ name: 'train', schema: z.object({ trees: z.number(), maxDepth: z.number() }) }],
      }),
    );
    expect(error.issues).toContainEqual({
      source: 'conf/base/train.yaml:2',
      path: ['maxDepht'],
      message: 'unknown key (did you mean `maxDepth`?)',
    });
  });

  it('refuses keys dropped by a non-zod schema, and leaves z.looseObject and z.record alone', async () => {
    await write('base/train.yaml', 'n: 1\nextra: 2\n');
    await write('base/loose.yaml', 'n: 1\nextra: 2\n');
    await write('base/table.yaml', 'columns:\n  a: 1\n  b: 2\n');
    const picky: StandardSchemaV1<unknown, { n: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) => ({ value: { n: (value as { n: number }).n } }),
      },
    };
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train', schema: picky }] }),
    );
    expect(error.issues).toEqual([
      { source: 'conf/base/train.yaml:2', path: ['extra'], message: 'unknown key (known keys: n)' },
    ]);
    const fine = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [
        { name: 'loose', schema: z.looseObject({ n: z.number() }) },
        { name: 'table', schema: z.object({ columns: z.record(z.string(), z.number()) }) },
      ],
    });
    expect(fine.loose!.value).toEqual({ n: 1, extra: 2 });
    expect(fine.table!.value).toEqual({ columns: { a: 1, b: 2 } });
  });

  it('refuses keys a non-zod schema that passes its input through does not declare, and names the one meant', async () => {
    // Its optional keys are absent from the output, and the typo is in it: only the declared keys can tell.
    await write('base/train.yaml', 'metric: f1\np99ms: 5\n');
    const passThrough = {
      '~cairn': { keys: ['metric', 'p99Ms', 'minRps'] },
      '~standard': { version: 1, vendor: 'test', validate: (value: unknown) => ({ value }) },
    } as StandardSchemaV1<unknown, Record<string, unknown>>;
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train', schema: passThrough }] }),
    );
    expect(error.issues).toEqual([
      { source: 'conf/base/train.yaml:2', path: ['p99ms'], message: 'unknown key (did you mean `p99Ms`?)' },
    ]);
    await write('base/train.yaml', 'metric: f1\np99Ms: 5\n');
    const fine = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'train', schema: passThrough }],
    });
    expect(fine.train!.value).toEqual({ metric: 'f1', p99Ms: 5 });
  });

  it('with deferUnsetEnv, keeps an unset reference as written and judges every other key', async () => {
    const schema = z.strictObject({ url: z.string().url(), n: z.number() });
    await write('base/fetch.yaml', 'url: ${env:SVC_URL}\nn: 3\n');
    const options = {
      confDir,
      env: 'local',
      environment: {},
      deferUnsetEnv: true,
      steps: [{ name: 'fetch', schema }],
    };
    const deferred = await resolveStepConfigs(options);
    // Not judged by its placeholder text (not a URL), and not an unset-variable error either.
    expect(deferred.fetch!.value).toEqual({ url: '${env:SVC_URL}', n: 3 });
    await write('base/fetch.yaml', 'url: ${env:SVC_URL}\nn: many\nnn: 1\n');
    const error = await failure(resolveStepConfigs(options));
    expect(error.issues.map((issue) => issue.path)).toEqual([['n'], ['nn']]);
    // Without the option, the same unset variable is an error.
    await write('base/fetch.yaml', 'url: ${env:SVC_URL}\nn: 3\n');
    const unset = await failure(resolveStepConfigs({ ...options, deferUnsetEnv: false }));
    expect(unset.code).toBe('CAIRN_CONFIG_ENV_MISSING');
  });

  it('treats a schema that answers with a promise, or throws, or rejects, as a synchronous one', async () => {
    await write('base/a.yaml', 'n: 1\n');
    await write('base/b.yaml', 'n: -1\n');
    await write('base/c.yaml', 'n: 1\ntypo: 2\n');
    await write('base/d.yaml', 'n: 1\n');
    await write('base/e.yaml', 'n: 1\n');
    const later = z.object({ n: z.number().int().positive() });
    const asynchronous: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => later['~standard'].validate(value),
      },
    };
    const throws: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('boom');
        },
      },
    };
    const rejects: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: () => Promise.reject(new Error('later boom')) },
    };
    const fine = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'a', schema: asynchronous }],
    });
    expect(fine.a!.value).toEqual({ n: 1 });
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        steps: [
          { name: 'a', schema: asynchronous },
          { name: 'b', schema: asynchronous },
          { name: 'c', schema: asynchronous },
          { name: 'd', schema: throws },
          { name: 'e', schema: rejects },
        ],
      }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.issues?.map((issue) => [issue.source, issue.path, issue.message.split(' (')[0]])).toEqual([
      ['conf/base/b.yaml:1', ['n'], expect.stringMatching(/>0|positive|greater/i)],
      ['conf/base/c.yaml:2', ['typo'], 'unknown key'],
      ['conf/base/d.yaml', [], 'the config schema threw: boom'],
      ['conf/base/e.yaml', [], 'the config schema threw: later boom'],
    ]);
  });

  it('reports an unknown YAML alias at its line and an alias bomb as CAIRN_CONFIG_UNREADABLE', async () => {
    await write('base/train.yaml', 'trees: 1\ntoken: *nope\n');
    const unknown = await failure(resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train' }] }));
    expect(unknown.code).toBe('CAIRN_CONFIG_UNREADABLE');
    expect(unknown.issues).toMatchObject([{ source: 'conf/base/train.yaml:2' }]);
    expect(unknown.issues[0]!.message).toContain('*nope');
    const rows = ['a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ]) {
      rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    await write('base/train.yaml', `${rows.join('\n')}\n`);
    const bomb = await failure(resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train' }] }));
    expect(bomb.code).toBe('CAIRN_CONFIG_UNREADABLE');
    expect(bomb.issues[0]!.message).toContain('aliases expand too far');
    const flag = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        overrides: ['evaluate.token=*nope'],
        steps: [{ name: 'evaluate' }],
      }),
    );
    expect(flag.code).toBe('CAIRN_CONFIG_UNREADABLE');
  });

  it('refuses an unterminated ${env:… at its file and line', async () => {
    await write('base/ingest.yaml', 'rows: 3\npath: ${env:DATA_PATH\n');
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        environment: { DATA_PATH: '/d' },
        steps: [{ name: 'ingest' }],
      }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.issues).toEqual([
      { source: 'conf/base/ingest.yaml:2', path: ['path'], message: expect.stringContaining('unterminated') },
    ]);
  });

  it('reads an empty file as {}, and refuses .inf (not JSON) at its line', async () => {
    await write('base/empty.yaml', '# nothing yet\n');
    await write('base/train.yaml', 'a: 1\nrate: .inf\n');
    const empty = await resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'empty' }] });
    expect(empty.empty!.stored).toEqual({});
    const error = await failure(resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train' }] }));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.issues).toMatchObject([{ source: 'conf/base/train.yaml:2', path: ['rate'] }]);
  });

  it('supports a schema whose validate returns a Promise', async () => {
    const asyncSchema: StandardSchemaV1<unknown, { n: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          await new Promise((done) => setTimeout(done, 5));
          const n = (value as { n?: unknown }).n;
          return typeof n === 'number'
            ? { value: { n: n * 2 } }
            : { issues: [{ message: `expected number, received ${typeof n}`, path: [{ key: 'n' }] }] };
        },
      },
    };
    await write('base/ok.yaml', 'n: 21\n');
    await write('base/bad.yaml', 'other: 1\nn: "21"\n');
    const ok = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'ok', schema: asyncSchema }],
    });
    expect(ok.ok!.value).toEqual({ n: 42 });
    expect(ok.ok!.stored).toEqual({ n: 21 });
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'bad', schema: asyncSchema }] }),
    );
    expect(error.issues).toEqual([
      { source: 'conf/base/bad.yaml:2', path: ['n'], message: 'expected number, received string' },
    ]);
  });

  it('refuses an environment name that would leave the conf folder', async () => {
    const error = await failure(resolveStepConfigs({ confDir, env: '../etc', steps: [] }));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
  });

  it('does not reach prototypes through config keys', async () => {
    await write('base/train.yaml', '__proto__:\n  polluted: true\n');
    const configs = await resolveStepConfigs({
      confDir,
      env: 'local',
      steps: [{ name: 'train' }],
      overrides: { train: JSON.parse('{"__proto__": {"polluted2": true}}') },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted2).toBeUndefined();
    expect(Object.keys(configs.train!.stored)).toEqual(['__proto__']);
  });

  // Speed is measured in bench/ (orchestration overhead), never asserted here.
  it('resolves 1,000 steps with no config files', async () => {
    const steps = Array.from({ length: 1000 }, (_, i) => ({ name: `step${i}`, schema: z.object({}) }));
    const configs = await resolveStepConfigs({ confDir, env: 'local', steps });
    expect(Object.keys(configs)).toHaveLength(1000);
    expect(configs.step999).toMatchObject({ value: {}, stored: {} });
  });
});

describe('secrets', () => {
  const secret = 's3cr3t-Pa55word';
  const environment = { PG_PASSWORD: secret, BUCKET: 'artifacts-prod' };

  it('substitutes ${env:…} in value only; stored keeps the reference', async () => {
    await write(
      'base/deploy.yaml',
      'url: postgres://app:${env:PG_PASSWORD}@db/cairn\nbucket: ${env:BUCKET}\nliteral: $${env:BUCKET}\nlist: ["${env:BUCKET}"]\n',
    );
    const configs = await resolveStepConfigs({
      confDir,
      env: 'local',
      environment,
      steps: [{ name: 'deploy' }],
    });
    const deploy = configs.deploy!;
    expect(deploy.value).toEqual({
      url: `postgres://app:${secret}@db/cairn`,
      bucket: 'artifacts-prod',
      literal: '${env:BUCKET}',
      list: ['artifacts-prod'],
    });
    expect(deploy.stored).toEqual({
      url: 'postgres://app:${env:PG_PASSWORD}@db/cairn',
      bucket: '${env:BUCKET}',
      literal: '$${env:BUCKET}',
      list: ['${env:BUCKET}'],
    });
    expect(JSON.stringify(deploy.stored)).not.toContain(secret);
    expect(JSON.stringify(deploy.sources)).not.toContain(secret);
  });

  it('names the file and key of an unset variable, not a value', async () => {
    await write('base/deploy.yaml', 'db:\n  url: postgres://u:${env:CAIRN_TEST_MISSING_PW}@h/db\n');
    const error = await failure(
      resolveStepConfigs({ confDir, env: 'local', environment: {}, steps: [{ name: 'deploy' }] }),
    );
    expect(error.code).toBe('CAIRN_CONFIG_ENV_MISSING');
    expect(error.issues).toEqual([
      {
        source: 'conf/base/deploy.yaml:2',
        path: ['db', 'url'],
        message:
          'environment variable CAIRN_TEST_MISSING_PW is not set (referenced as ${env:CAIRN_TEST_MISSING_PW})',
      },
    ]);
    expect(error.message).not.toContain('postgres://');
  });

  it('never lets a resolved secret into an error message, even when the schema echoes the input', async () => {
    await write('base/deploy.yaml', 'password: ${env:PG_PASSWORD}\nport: ${env:PG_PASSWORD}\nmode: x\n');
    const echoing = z.object({
      password: z
        .string()
        .refine((value) => value.length > 100, { error: (issue) => `too short: ${issue.input}` }),
      port: z.number(),
      mode: z.enum(['a', 'b']),
    });
    const error = await failure(
      resolveStepConfigs({
        confDir,
        env: 'local',
        environment,
        steps: [{ name: 'deploy', schema: echoing }],
      }),
    );
    expect(error.issues.map((issue) => issue.path?.join('.'))).toEqual(['password', 'port', 'mode']);
    expect(error.issues[0]!.message).toBe('too short: ***');
    const everything = JSON.stringify({ ...error.toJSON(), stack: undefined });
    expect(everything).not.toContain(secret);
    expect(error.message).not.toContain(secret);
  });

  it('keeps secrets out of explainConfig', async () => {
    await write('base/deploy.yaml', 'password: ${env:PG_PASSWORD}\n');
    const explained = await explainConfig({ confDir, env: 'local', environment, step: 'deploy' });
    expect(explained.entries).toEqual([
      { key: 'password', value: '${env:PG_PASSWORD}', source: 'conf/base/deploy.yaml', line: 1 },
    ]);
    expect(JSON.stringify(explained)).not.toContain(secret);
  });
});

describe('explainConfig', () => {
  it('lists each leaf with its stored value and source file:line, and the problems found', async () => {
    await write('base/train.yaml', 'trees: 200\nmodel:\n  depth: 4\n  layers: [1, 2]\nempty: {}\n');
    await write('ci/train.yaml', 'model:\n  depth: x\n');
    const explained = await explainConfig({
      confDir,
      env: 'ci',
      step: 'train',
      overrides: ['train.trees=3'],
      schema: z.object({ trees: z.number(), model: z.object({ depth: z.number() }) }),
    });
    expect(explained.layers).toEqual(['conf/base/train.yaml', 'conf/ci/train.yaml', '--set']);
    expect(explained.entries).toEqual([
      { key: 'trees', value: 3, source: '--set' },
      { key: 'model.depth', value: 'x', source: 'conf/ci/train.yaml', line: 2 },
      { key: 'model.layers', value: [1, 2], source: 'conf/base/train.yaml', line: 4 },
      { key: 'empty', value: {}, source: 'conf/base/train.yaml', line: 5 },
    ]);
    // `model.layers` and `empty` are not in the schema: plain z.object would strip them, so they are reported.
    expect(explained.issues).toMatchObject([
      { source: 'conf/ci/train.yaml:2', path: ['model', 'depth'] },
      {
        source: 'conf/base/train.yaml:4',
        path: ['model', 'layers'],
        message: 'unknown key (known keys: depth)',
      },
      {
        source: 'conf/base/train.yaml:5',
        path: ['empty'],
        message: 'unknown key (known keys: trees, model)',
      },
    ]);
  });

  it('configEntries works on a resolved step config', async () => {
    await write('base/train.yaml', 'a:\n  b: 1\n');
    const configs = await resolveStepConfigs({ confDir, env: 'local', steps: [{ name: 'train' }] });
    expect(configEntries(configs.train!)).toEqual([
      { key: 'a.b', value: 1, source: 'conf/base/train.yaml', line: 2 },
    ]);
  });
});

describe('the secrets a resolution substituted', () => {
  it('are reported per step, each with the variable it came from, for scrubbing', async () => {
    const configs = await resolveStepConfigs({
      confDir: join(tmpdir(), 'cairn-no-conf'),
      env: 'local',
      steps: [{ name: 'load' }, { name: 'train' }],
      inline: { load: { url: 'postgres://app:${env:PG_PASSWORD}@db/x', short: '${env:TINY}' }, train: {} },
      environment: { PG_PASSWORD: 'hunter2-long', TINY: 'on' },
    });
    // Values too short to scrub without mangling ordinary text are not listed.
    expect([...configs.load!.secrets]).toEqual([['hunter2-long', 'PG_PASSWORD']]);
    expect(configs.train!.secrets.size).toBe(0);
  });
});
