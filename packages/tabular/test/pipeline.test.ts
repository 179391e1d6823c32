/**
 * The table type inside a real run: the core orchestrator, a local store and
 * in-memory metadata carry a penguins table from ingest through validation,
 * a split and an evaluation, and a second run reuses every step because the
 * table bytes are deterministic.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CairnEvent,
  json,
  type MetadataStore,
  metrics,
  pipeline,
  report,
  type StorageDriver,
  step,
} from '@cairn/core';
import { localStore, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  assertValid,
  barChartSvg,
  classificationMetrics,
  confusionMatrixSvg,
  expectSchema,
  fitPreprocessor,
  htmlReport,
  metricsSummary,
  stratifiedSplit,
  table,
  tableFromJson,
  tableFromRows,
  type ValidationReportData,
  validateTable,
} from '../src/index';
import { penguinsPath } from './fixtures';

interface Penguin {
  species: string;
  island: string;
  bill_length_mm: number | null;
  flipper_length_mm: number | null;
  sex: string | null;
}

const schema = expectSchema({
  columns: {
    species: { type: 'string', allowed: ['Adelie', 'Chinstrap', 'Gentoo'], maxMissing: 0 },
    bill_length_mm: { type: 'number', min: 25, max: 70, maxMissing: 0.05 },
    flipper_length_mm: { type: 'number', min: 150, max: 250, maxMissing: 0.05 },
  },
  minRows: 100,
});

const ingest = step({
  name: 'ingest',
  config: z.object({ corrupt: z.boolean().default(false) }),
  outputs: { data: table<Penguin>() },
  run: ({ config }) => {
    const raw = tableFromJson<Record<string, string | number | null>>(penguinsPath).rows();
    const rows = raw.map((r, i) => ({
      species: r.Species as string,
      island: r.Island as string,
      bill_length_mm: config.corrupt && i === 5 ? 700 : (r['Beak Length (mm)'] as number | null),
      flipper_length_mm: r['Flipper Length (mm)'] as number | null,
      sex: r.Sex === '.' ? null : (r.Sex as string | null),
    }));
    return { data: tableFromRows<Penguin>(rows) };
  },
});

const validate = step({
  name: 'validate',
  inputs: { data: table<Penguin>() },
  outputs: { report: json<ValidationReportData>() },
  run: ({ inputs }) => ({ report: assertValid(validateTable(inputs.data, schema)).toJSON() }),
});

const split = step({
  name: 'split',
  config: z.object({ seed: z.number().int().default(42) }),
  inputs: { data: table<Penguin>(), report: json<ValidationReportData>() },
  outputs: { train: table<Penguin>(), test: table<Penguin>() },
  run: ({ config, inputs }) => {
    const { train, test } = stratifiedSplit(inputs.data.rows(), {
      by: 'species',
      testFraction: 0.2,
      seed: config.seed,
    });
    return { train: tableFromRows<Penguin>(train), test: tableFromRows<Penguin>(test) };
  },
});

// A nearest-centroid classifier: enough to exercise preprocessing and metrics without an ML library.
const evaluate = step({
  name: 'evaluate',
  inputs: { train: table<Penguin>(), test: table<Penguin>() },
  outputs: { scores: metrics(), page: report() },
  run: ({ inputs }) => {
    const train = inputs.train.rows();
    const test = inputs.test.rows();
    const prep = fitPreprocessor(train, {
      numeric: ['bill_length_mm', 'flipper_length_mm'],
      categorical: ['island'],
    });
    const X = prep.transform(train);
    const labels = [...new Set(train.map((r) => r.species))].sort();
    const centroids = labels.map((label) => {
      const members = X.filter((_, i) => train[i]!.species === label);
      return members[0]!.map((_, j) => members.reduce((sum, x) => sum + x[j]!, 0) / members.length);
    });
    const predicted = prep.transform(test).map((x) => {
      const distances = centroids.map((c) => c.reduce((sum, v, j) => sum + (v - x[j]!) ** 2, 0));
      return labels[distances.indexOf(Math.min(...distances))]!;
    });
    const m = classificationMetrics(
      test.map((r) => r.species),
      predicted,
      { labels },
    );
    const content = htmlReport({
      title: 'Penguins',
      sections: [
        { heading: 'Confusion matrix', svg: confusionMatrixSvg(m.confusionMatrix, m.labels) },
        {
          heading: 'F1',
          svg: barChartSvg(Object.fromEntries(labels.map((l) => [l, m.perClass[l]!.f1]))),
        },
      ],
    });
    return { scores: metricsSummary(m), page: { format: 'html' as const, title: 'Penguins', content } };
  },
});

const training = pipeline('tabular-penguins', () => {
  const { data } = ingest();
  const { report: checked } = validate({ data });
  const { train, test } = split({ data, report: checked });
  evaluate({ train, test });
});

let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-tabular-run-'));
  storage = localStore({ dir: join(dir, 'artifacts') });
  metadata = memoryMetadata();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a pipeline of table artifacts', () => {
  it('runs end to end, then reuses every step on the second run', async () => {
    const events: CairnEvent[] = [];
    const options = { storage, metadata, projectDir: dir, configs: { ingest: {}, split: {} } };
    const first = await runPipeline(training, { ...options, onEvent: (e) => events.push(e) });
    expect(first.error).toBeUndefined();
    expect(first.status).toBe('succeeded');
    expect(first.counts.executed).toBe(4);

    const second = await runPipeline(training, options);
    expect(second.counts).toMatchObject({ executed: 0, cached: 4 });
    expect(second.steps.ingest!.outputs.data!.digest).toBe(first.steps.ingest!.outputs.data!.digest);
    expect(second.steps.split!.outputs.test!.digest).toBe(first.steps.split!.outputs.test!.digest);
  });

  it('stops at validation with CAIRN_DATA_INVALID naming the column', async () => {
    const result = await runPipeline(training, {
      storage,
      metadata,
      projectDir: dir,
      configs: { ingest: { corrupt: true }, split: {} },
    });
    expect(result.status).toBe('failed');
    expect(result.error?.step).toBe('validate');
    expect(result.error?.code).toBe('CAIRN_DATA_INVALID');
    expect(result.error?.message).toContain(
      'column "bill_length_mm" has 1 values outside [25, 70], e.g. 700',
    );
    expect(result.steps.split!.status).not.toBe('succeeded');
  });
});
