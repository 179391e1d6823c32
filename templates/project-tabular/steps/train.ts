import { json, step } from '@cairn/core';
import { z } from 'zod';
import type { Row } from './ingest';

/** A nearest-centroid classifier on standardized features. */
export interface CentroidModel {
  label: string;
  features: string[];
  mean: number[];
  std: number[];
  centroids: Record<string, number[]>;
}

/** Split rows deterministically: every n-th row is held out. */
export function split(rows: Row[], holdoutEvery: number): { train: Row[]; holdout: Row[] } {
  const train: Row[] = [];
  const holdout: Row[] = [];
  rows.forEach((row, i) => {
    ((i + 1) % holdoutEvery === 0 ? holdout : train).push(row);
  });
  return { train, holdout };
}

export function fit(rows: Row[], label: string, features: string[]): CentroidModel {
  const values = rows.map((row) => features.map((f) => Number(row[f])));
  const mean = features.map((_, j) => values.reduce((sum, v) => sum + v[j]!, 0) / values.length);
  const std = features.map(
    (_, j) => Math.sqrt(values.reduce((sum, v) => sum + (v[j]! - mean[j]!) ** 2, 0) / values.length) || 1,
  );
  const sums: Record<string, { total: number[]; n: number }> = {};
  rows.forEach((row, i) => {
    const key = String(row[label]);
    sums[key] ??= { total: features.map(() => 0), n: 0 };
    values[i]!.forEach((v, j) => {
      sums[key]!.total[j]! += (v - mean[j]!) / std[j]!;
    });
    sums[key].n += 1;
  });
  const centroids = Object.fromEntries(
    Object.entries(sums).map(([key, s]) => [key, s.total.map((t) => t / s.n)]),
  );
  return { label, features, mean, std, centroids };
}

export function predict(model: CentroidModel, row: Row): string {
  const x = model.features.map((f, j) => (Number(row[f]) - model.mean[j]!) / model.std[j]!);
  let best = '';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const [key, centroid] of Object.entries(model.centroids)) {
    const distance = centroid.reduce((sum, c, j) => sum + (c - x[j]!) ** 2, 0);
    if (distance < bestDistance) [best, bestDistance] = [key, distance];
  }
  return best;
}

export const train = step({
  name: 'train',
  description: 'Fit a nearest-centroid classifier on the training split',
  config: z.object({
    label: z.string(),
    features: z.array(z.string()).min(1),
    holdoutEvery: z.number().int().min(2),
  }),
  inputs: { rows: json<Row[]>() },
  outputs: { model: json<CentroidModel>(), holdout: json<Row[]>() },
  run({ config, inputs, log }) {
    const { train: trainRows, holdout } = split(inputs.rows, config.holdoutEvery);
    const model = fit(trainRows, config.label, config.features);
    log.info(`trained on ${trainRows.length} rows, ${Object.keys(model.centroids).length} classes`);
    return { model, holdout };
  },
});
