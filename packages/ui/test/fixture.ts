/**
 * A real project state for the dashboard's tests and screenshots: pipelines
 * run by the orchestrator into a SQLite metadata file and a local artifact
 * folder, a failing step, runs that differ in one config key, a registered
 * model with a promotion, a drift report, an A/B experiment with exposures
 * and outcomes in the embedded engine, and a run held open to watch live.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAbtest } from '@cairn/abtest-local';
import {
  type AbTestEngine,
  type Deployer,
  json,
  type MetadataStore,
  type ModelLoader,
  metrics,
  model,
  type Pipeline,
  pipeline,
  report,
  reportHtml,
  type StorageDriver,
  step,
} from '@cairn/core';
import { localDeployer } from '@cairn/deploy-local';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore, type RunOptions, type RunResult, runPipeline, storeArtifact } from '@cairn/runtime';
import { driftStep, table, tableFromRows } from '@cairn/tabular';
import { z } from 'zod';

/** The secret's value: it must never appear on a page. */
export const SECRET_VALUE = 's3cr3t-value-that-must-not-show';

const ingest = step({
  name: 'ingest',
  config: z.object({ rows: z.number().int().positive(), apiKey: z.string() }),
  outputs: { data: json<number[]>() },
  run: ({ config, log }) => {
    // The secret goes through the step's logger: the stored log must show its reference only.
    log.info(`fetching ${config.rows} rows with key ${config.apiKey}`);
    log.warn('2 rows had no label');
    return { data: Array.from({ length: config.rows }, (_, i) => (i * 7919) % 101) };
  },
});

const train = step({
  name: 'train',
  config: z.object({ trees: z.number().int().positive(), fail: z.boolean().default(false) }),
  inputs: { data: json<number[]>() },
  outputs: { model: json<{ trees: number; mean: number }>(), scores: metrics() },
  run: ({ config, inputs }) => {
    if (config.fail) throw new Error('train: the learning rate diverged (loss = NaN at iteration 3)');
    const mean = inputs.data.reduce((a, b) => a + b, 0) / inputs.data.length;
    return {
      model: { trees: config.trees, mean },
      scores: { accuracy: 0.8 + config.trees / 1000, loss: 1 / config.trees },
    };
  },
});

const evaluate = step({
  name: 'evaluate',
  inputs: { model: json<{ trees: number; mean: number }>() },
  outputs: { metrics: metrics(), report: report() },
  run: ({ inputs }) => ({
    metrics: { macro_f1: 0.7 + inputs.model.trees / 1000 },
    report: reportHtml(
      `<h1>Evaluation</h1><p id="trees">Trees: ${inputs.model.trees}</p><svg width="120" height="20"><rect width="${inputs.model.trees}" height="20" fill="#1f5fbf"/></svg>`,
      { title: 'Evaluation' },
    ),
  }),
});

export const training = pipeline('training', () => {
  const { data } = ingest();
  const { model } = train({ data });
  evaluate({ model });
});

/** Penguin-like rows; `shift` moves bill lengths, so the monitoring run finds drift in that column only. */
const rowsOf = (n: number, shift: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ({
    bill_length_mm: 38 + ((i * 7919 + seed) % 97) / 10 + shift,
    island: ['Biscoe', 'Dream', 'Torgersen'][(i * 31 + seed) % 3]!,
  }));

const reference = step({
  name: 'reference',
  outputs: { data: table() },
  run: () => ({ data: tableFromRows(rowsOf(300, 0, 1)) }),
});
const live = step({
  name: 'live',
  config: z.object({ shift: z.number() }),
  outputs: { data: table() },
  run: ({ config }) => ({ data: tableFromRows(rowsOf(300, config.shift, 2)) }),
});
const drift = driftStep();

/** The monitoring pipeline of a team project: live data against the training reference, with the real drift step. */
export const monitoring = pipeline('monitoring', () => {
  const { data: ref } = reference();
  const { data: current } = live();
  drift({ reference: ref, current });
});

/** A pipeline whose second step waits until the test lets it finish: a run to watch live. */
export function heldPipeline(release: Promise<void>): Pipeline {
  const first = step({ name: 'first', outputs: { out: json<number>() }, run: () => ({ out: 1 }) });
  const held = step({
    name: 'held',
    cache: false,
    inputs: { value: json<number>() },
    outputs: { out: json<number>() },
    run: async ({ inputs }) => {
      await release;
      return { out: inputs.value + 1 };
    },
  });
  const last = step({
    name: 'last',
    cache: false,
    inputs: { value: json<number>() },
    outputs: { out: json<number>() },
    run: ({ inputs }) => ({ out: inputs.value + 1 }),
  });
  return pipeline('live', () => {
    const { out } = first();
    const { out: second } = held({ value: out });
    last({ value: second });
  });
}

export interface Project {
  dir: string;
  metadata: MetadataStore;
  storage: StorageDriver;
  abtest: AbTestEngine;
  /** The embedded deployer, serving: `penguins` with v1 primary and v2 as a 10 % canary. */
  deployer: Deployer;
  pipelines: Map<string, Pipeline>;
  runs: { first: RunResult; second: RunResult; failed: RunResult; driftOld: RunResult; driftNew: RunResult };
  run(pipeline: Pipeline, configs: Record<string, unknown>, extra?: Partial<RunOptions>): Promise<RunResult>;
  dispose(): Promise<void>;
}

export async function makeProject(): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-ui-project-'));
  const metadata = sqliteMetadata({ file: join(dir, '.cairn', 'metadata.db') });
  await metadata.init?.();
  const storage = localStore({ dir: join(dir, '.cairn', 'artifacts') });
  process.env.UI_TEST_API_KEY = SECRET_VALUE;
  const run = (p: Pipeline, configs: Record<string, unknown>, extra: Partial<RunOptions> = {}) =>
    runPipeline(p, {
      storage,
      metadata,
      projectDir: dir,
      confDir: join(dir, 'conf'),
      tmpDir: join(dir, '.cairn', 'tmp'),
      configs,
      ...extra,
    });
  const base = { ingest: { rows: 50, apiKey: '${env:UI_TEST_API_KEY}' } };
  const first = await run(training, { ...base, train: { trees: 10 } });
  const second = await run(training, { ...base, train: { trees: 40 } }, { tags: { trigger: 'ci' } });
  const failed = await run(training, { ...base, train: { trees: 40, fail: true } });
  const driftOld = await run(monitoring, { live: { shift: 0 }, drift: {} });
  const driftNew = await run(monitoring, { live: { shift: 4 }, drift: {} });

  // The registry: both models registered from their runs, the better one promoted.
  const modelOf = async (r: RunResult) =>
    (await metadata.listExecutions(r.runId)).find((e) => e.step === 'train')!.outputs.model!;
  await metadata.registerModel({
    model: 'penguins',
    digest: (await modelOf(first)).digest,
    metrics: { macro_f1: 0.71 },
    runId: first.runId,
  });
  await metadata.registerModel({
    model: 'penguins',
    digest: (await modelOf(second)).digest,
    metrics: { macro_f1: 0.74 },
    runId: second.runId,
  });
  await metadata.transitionStage({
    model: 'penguins',
    version: 1,
    to: 'production',
    reason: 'first model',
    actor: 'ci',
  });
  await metadata.transitionStage({
    model: 'penguins',
    version: 2,
    to: 'production',
    reason: 'gate: macro_f1 +0.03',
    actor: 'gate',
  });

  // A canary judged as an experiment: exposures and outcomes in the embedded engine.
  const abtest = await localAbtest({ file: join(dir, '.cairn', 'abtest.db') }).create({
    stateDir: join(dir, '.cairn'),
  });
  await abtest.createExperiment({
    name: 'penguins-canary',
    variants: [
      { name: 'control', weight: 90 },
      { name: 'v2', weight: 10 },
    ],
    primaryMetric: { name: 'correct', type: 'binomial', goal: 'increase' },
    minimumSampleSize: 20,
  });
  for (let i = 0; i < 400; i++) {
    const unit = `user-${i}`;
    const { variant } = await abtest.assign('penguins-canary', unit);
    await abtest.recordExposure('penguins-canary', unit);
    const p = variant === 'v2' ? 0.75 : 0.6;
    if ((i * 37) % 100 < p * 100) await abtest.recordOutcome('penguins-canary', unit, 'correct', 1);
    // Looked at every 50 units, as a canary review would: the sequential p-value's history.
    if ((i + 1) % 50 === 0) await abtest.analyze('penguins-canary');
  }

  // An endpoint with a canary, served by the embedded deployer, answering a few predictions.
  const bundleOf = async (version: number) => {
    const workdir = join(dir, '.cairn', 'tmp', `bundle-${version}`);
    const serialized = await model().serialize(
      {
        manifest: {
          flavor: 'ui-test/constant',
          signature: {
            inputs: [{ name: 'bill_length_mm', type: 'float64' }],
            outputs: [{ name: 'species', type: 'string' }],
          },
        },
        files: { 'answer.json': JSON.stringify({ version }) },
      },
      { workdir, name: 'model' },
    );
    return (await storeArtifact(storage, serialized)).digest;
  };
  const constant: ModelLoader = (bundle) => {
    const raw = bundle.files['answer.json']!;
    const { version } = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)) as {
      version: number;
    };
    return { predict: (rows) => rows.map(() => `Adelie (v${version})`) };
  };
  const deployer = await localDeployer({ port: 0 }).create({
    storage,
    loaders: { 'ui-test/constant': constant },
    stateDir: join(dir, '.cairn', 'deploy'),
  });
  await deployer.deploy({
    endpoint: 'penguins',
    model: { model: 'penguins', version: 1, digest: await bundleOf(1) },
    reason: 'first model',
  });
  await deployer.deploy({
    endpoint: 'penguins',
    model: { model: 'penguins', version: 2, digest: await bundleOf(2) },
    strategy: { type: 'canary', percent: 10 },
    reason: 'gate promoted v2',
  });
  for (let i = 0; i < 30; i++)
    await deployer.predict('penguins', [{ bill_length_mm: 39 }], { unitId: `user-${i}` });

  return {
    dir,
    metadata,
    storage,
    abtest,
    deployer,
    pipelines: new Map([
      ['training', training],
      ['monitoring', monitoring],
    ]),
    runs: { first, second, failed, driftOld, driftNew },
    run,
    async dispose() {
      await deployer.close();
      await abtest.close();
      await metadata.close?.();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
