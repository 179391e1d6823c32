import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, json, type ModelBundle, type ModelField, metrics, model, step } from '@cairn/core';
import { labelEncoder, Preprocessor, type PreprocessorState, table } from '@cairn/tabular';
import { RandomForestClassifier } from 'ml-random-forest';
import { z } from 'zod';
import { argmax, FLAVOR, forestClassifier } from '../src/classifier';
import { LABEL, type Penguin } from '../src/penguin';

const config = z.object({
  seed: z.number().int(),
  /** Trees in the forest. */
  trees: z.number().int().positive(),
  /** Features each tree sees: a share in (0, 1] or a count. */
  maxFeatures: z.number().positive(),
  /** Deepest split of a tree. */
  maxDepth: z.number().int().positive(),
  /** Fewest samples in a node that is split further. */
  minNumSamples: z.number().int().positive(),
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

/**
 * Model training: fit a seeded random forest (ml-random-forest) on the
 * preprocessed training split, and package it as a self-describing bundle:
 * the forest's JSON, the fitted preprocessing, the input and output
 * signatures and the library versions, so a server can load it with
 * src/predict.ts alone. The same inputs and config give the same bytes.
 */
export const train = step({
  name: 'train',
  description: 'Fit the classifier and package it with its preprocessing',
  config,
  inputs: { train: table<Penguin>(), preprocessor: json<PreprocessorState>() },
  outputs: { model: model(), metrics: metrics() },
  run({ config, inputs, log }) {
    const rows = inputs.train.rows();
    const preprocessor = Preprocessor.fromJSON(inputs.preprocessor);
    const X = preprocessor.transform(rows);
    const classes = labelEncoder(rows.map((r) => r[LABEL]));
    const y = classes.encodeAll(rows.map((r) => r[LABEL]));
    const hyperparameters = {
      trees: config.trees,
      maxFeatures: config.maxFeatures,
      maxDepth: config.maxDepth,
      minNumSamples: config.minNumSamples,
      seed: config.seed,
    };
    const forest = new RandomForestClassifier({
      nEstimators: config.trees,
      maxFeatures: config.maxFeatures,
      seed: config.seed,
      useSampleBagging: true,
      replacement: false,
      // Out-of-bag scoring breaks on rows no tree left out (few trees); evaluate scores held-out rows anyway.
      noOOB: true,
      treeOptions: { maxDepth: config.maxDepth, minNumSamples: config.minNumSamples },
    });
    forest.train(X, y);
    const k = classes.labels.length;
    const probabilities = forestClassifier(forest, k).predictProba(X);
    const trainAccuracy = probabilities.filter((p, i) => argmax(p) === y[i]).length / y.length;

    const state = preprocessor.toJSON();
    const signatureInputs: ModelField[] = [
      ...state.numeric.map((n) => ({ name: n.name, type: 'float64' })),
      ...state.categorical.map((c) => ({ name: c.name, type: 'category', values: c.categories })),
    ];
    const bundle: ModelBundle = {
      manifest: {
        flavor: FLAVOR,
        framework: { name: FLAVOR, version: packageVersion(FLAVOR) },
        signature: {
          inputs: signatureInputs,
          outputs: [
            { name: LABEL, type: 'category', values: [...classes.labels] },
            { name: 'probabilities', type: `tensor<float64>[${k}]` },
          ],
        },
        libraries: {
          [FLAVOR]: packageVersion(FLAVOR),
          '@cairn/tabular': packageVersion('@cairn/tabular'),
        },
        preprocessing: 'preprocessing.json',
        metadata: { hyperparameters, features: preprocessor.featureNames, trainingRows: rows.length },
      },
      files: {
        'model.json': canonicalJson(plain(forest.toJSON())),
        'preprocessing.json': canonicalJson(state),
      },
    };
    log.info(`training accuracy ${trainAccuracy.toFixed(4)}`, hyperparameters);
    return {
      model: bundle,
      metrics: { train_accuracy: trainAccuracy, train_rows: rows.length, features: X[0]?.length ?? 0 },
    };
  },
});
