import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, json, type ModelBundle, type ModelField, metrics, model, step } from '@cairn/core';
import { labelEncoder, Preprocessor, type PreprocessorState, table } from '@cairn/tabular';
import { RandomForestClassifier, RandomForestRegression } from 'ml-random-forest';
import { z } from 'zod';
import { argmax, FLAVOR, forestClassifier, forestRegressor } from '../src/forest';
import type { DatasetSpec, Row } from '../src/row';

// Bounded so that no accepted config can run for hours or exhaust memory.
const config = z.strictObject({
  seed: z.number().int(),
  /** Trees in the forest. */
  trees: z.number().int().positive().max(2000),
  /** Features each tree sees: a share in (0, 1] or a count. */
  maxFeatures: z.number().positive().max(10_000),
  /** Deepest split of a tree. */
  maxDepth: z.number().int().positive().max(64),
  /** Fewest samples in a node that is split further. */
  minNumSamples: z.number().int().positive().max(1_000_000),
});
export type TrainConfig = z.infer<typeof config>;

/** The installed version of a package, for the bundle's manifest (read from node_modules). */
export function packageVersion(name: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      return String(
        JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version,
      );
    } catch {}
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Plain JSON of a fitted model (library objects, class instances and all). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Feature name → share of the forest's total impurity decrease. */
function importance(forest: object, names: string[]): Record<string, number> {
  // ml-random-forest 2.1 has featureImportance() but its type declarations leave it out.
  const values = (forest as { featureImportance(): number[] }).featureImportance();
  const total = values.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return Object.fromEntries(
    names.map((name, i) => [name, total > 0 && Number.isFinite(values[i]) ? values[i]! / total : 0]),
  );
}

/**
 * Model training: fit a seeded random forest (ml-random-forest) — a
 * classifier or a regression forest, as prepare's spec says — on the
 * preprocessed training split, and package it as a self-describing bundle:
 * the forest's JSON, the fitted preprocessing, the input and output
 * signatures (a class label or a number), feature importance and the
 * library versions, so a server can load it with src/predict.ts alone. The
 * same inputs and config give the same bytes.
 */
export const train = step({
  name: 'train',
  description: 'Fit the model and package it with its preprocessing',
  config,
  inputs: { train: table<Row>(), preprocessor: json<PreprocessorState>(), spec: json<DatasetSpec>() },
  outputs: { model: model(), metrics: metrics() },
  run({ config, inputs, log }) {
    const { task, target } = inputs.spec;
    const rows = inputs.train.rows();
    const preprocessor = Preprocessor.fromJSON(inputs.preprocessor);
    const X = preprocessor.transform(rows);
    const hyperparameters = {
      trees: config.trees,
      maxFeatures: config.maxFeatures,
      maxDepth: config.maxDepth,
      minNumSamples: config.minNumSamples,
      seed: config.seed,
    };
    const options = {
      nEstimators: config.trees,
      maxFeatures: config.maxFeatures,
      seed: config.seed,
      useSampleBagging: true,
      replacement: false,
      // Out-of-bag scoring breaks on rows no tree left out (few trees); evaluate scores held-out rows anyway.
      noOOB: true,
      treeOptions: { maxDepth: config.maxDepth, minNumSamples: config.minNumSamples },
    };
    let forest: RandomForestClassifier | RandomForestRegression;
    let output: ModelField[];
    let scores: Record<string, number>;
    if (task === 'classification') {
      const labels = rows.map((r) => String(r[target]));
      const classes = labelEncoder(labels);
      const y = classes.encodeAll(labels);
      const classifier = new RandomForestClassifier(options);
      classifier.train(X, y);
      const k = classes.labels.length;
      const probabilities = forestClassifier(classifier, k).predictProba(X);
      const accuracy = probabilities.filter((p, i) => argmax(p) === y[i]).length / y.length;
      forest = classifier;
      output = [
        { name: target, type: 'category', values: [...classes.labels] },
        { name: 'probabilities', type: `tensor<float64>[${k}]` },
      ];
      scores = { train_accuracy: accuracy };
      log.info(`training accuracy ${accuracy.toFixed(4)}`, hyperparameters);
    } else {
      const y = rows.map((r) => Number(r[target]));
      const regression = new RandomForestRegression(options);
      regression.train(X, y);
      const predicted = forestRegressor(regression).predict(X);
      const rmse = Math.sqrt(predicted.reduce((s, p, i) => s + (p - y[i]!) ** 2, 0) / y.length);
      forest = regression;
      output = [{ name: target, type: 'float64' }];
      scores = { train_rmse: rmse };
      log.info(`training RMSE ${rmse.toPrecision(4)}`, hyperparameters);
    }

    const state = preprocessor.toJSON();
    const signatureInputs: ModelField[] = [
      ...state.numeric.map((n) => ({ name: n.name, type: 'float64' })),
      ...state.categorical.map((c) => ({ name: c.name, type: 'category', values: c.categories })),
    ];
    const bundle: ModelBundle = {
      manifest: {
        flavor: FLAVOR,
        framework: { name: FLAVOR, version: packageVersion(FLAVOR) },
        signature: { inputs: signatureInputs, outputs: output },
        libraries: {
          [FLAVOR]: packageVersion(FLAVOR),
          '@cairn/tabular': packageVersion('@cairn/tabular'),
        },
        preprocessing: 'preprocessing.json',
        metadata: {
          task,
          hyperparameters,
          features: preprocessor.featureNames,
          featureImportance: importance(forest, preprocessor.featureNames),
          trainingRows: rows.length,
          // The mean predictor of the training targets: the regression baseline evaluate compares with.
          ...(task === 'regression'
            ? { targetMean: rows.reduce((s, r) => s + Number(r[target]), 0) / rows.length }
            : { trainingClassCounts: countClasses(rows.map((r) => String(r[target]))) }),
        },
      },
      files: {
        'model.json': canonicalJson(plain(forest.toJSON())),
        'preprocessing.json': canonicalJson(state),
      },
    };
    return {
      model: bundle,
      metrics: { ...scores, train_rows: rows.length, features: X[0]?.length ?? 0 },
    };
  },
});

function countClasses(labels: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of [...labels].sort()) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}
