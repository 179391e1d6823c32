import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, json, type ModelBundle, type ModelField, metrics, model, step } from '@cairn/core';
import { labelEncoder, Preprocessor, type PreprocessorState, table } from '@cairn/tabular';
import LogisticRegression from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { RandomForestClassifier } from 'ml-random-forest';
import { z } from 'zod';
import { argmax, type Flavor, logisticRegression, randomForest } from '../src/classifier';
import { LABEL, type Penguin } from '../src/penguin';

const config = z.object({
  algorithm: z.enum(['random-forest', 'logistic-regression']),
  seed: z.number().int(),
  // random forest
  /** Trees in the forest. */
  trees: z.number().int().positive().default(50),
  /** Features each tree sees: a share in (0, 1] or a count. */
  maxFeatures: z.number().positive().default(0.6),
  /** Deepest split of a tree. */
  maxDepth: z.number().int().positive().default(10),
  /** Fewest samples in a node that is split further. */
  minNumSamples: z.number().int().positive().default(3),
  // logistic regression
  /** Gradient steps of each one-vs-rest model. */
  numSteps: z.number().int().positive().default(2000),
  learningRate: z.number().positive().default(0.01),
});
export type TrainConfig = z.infer<typeof config>;

/**
 * The version of an installed package, for the bundle's manifest: the
 * nearest `node_modules/<name>/package.json` above `from`, as Node's
 * resolver would find it (read directly, since packages need not export it).
 */
function packageVersion(name: string, from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      return String(
        JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version,
      );
    } catch {}
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Library versions a server needs to load each flavor. */
function libraries(flavor: Flavor): Record<string, string> {
  // The flavor's own dependencies, as it resolves them.
  const library = realpathSync(join(findPackage(flavor), '..'));
  const out: Record<string, string> = {
    [flavor]: packageVersion(flavor),
    'ml-matrix': packageVersion('ml-matrix', library),
    '@cairn/tabular': packageVersion('@cairn/tabular'),
  };
  if (flavor === 'ml-random-forest') out['ml-cart'] = packageVersion('ml-cart', library);
  return out;
}

function findPackage(name: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return candidate;
  }
}

/** Plain JSON of a fitted model (library objects, class instances and all). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/**
 * Model training: fit a classifier on the preprocessed training split with
 * the configured hyperparameters, and package it as a self-describing
 * bundle: the classifier's JSON, the fitted preprocessing, the input and
 * output signatures and the library versions, so a server can load it with
 * src/predict.ts alone. Everything is seeded: the same inputs and config
 * give the same bytes.
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
    const species = labelEncoder(rows.map((r) => r[LABEL]));
    const y = species.encodeAll(rows.map((r) => r[LABEL]));
    const k = species.labels.length;

    let flavor: Flavor;
    let payload: unknown;
    let hyperparameters: Record<string, number | string>;
    let probabilities: number[][];
    if (config.algorithm === 'random-forest') {
      flavor = 'ml-random-forest';
      hyperparameters = {
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
        // Out-of-bag scoring breaks on rows no tree left out (few trees); evaluate measures on held-out rows anyway.
        noOOB: true,
        treeOptions: { maxDepth: config.maxDepth, minNumSamples: config.minNumSamples },
      });
      forest.train(X, y);
      payload = plain(forest.toJSON());
      probabilities = randomForest(forest, k).predictProba(X);
    } else {
      flavor = 'ml-logistic-regression';
      hyperparameters = { numSteps: config.numSteps, learningRate: config.learningRate };
      const regression = new LogisticRegression({
        numSteps: config.numSteps,
        learningRate: config.learningRate,
      });
      regression.train(new Matrix(X), Matrix.columnVector(y));
      payload = plain(regression.toJSON());
      probabilities = logisticRegression(regression, k).predictProba(X);
    }
    const trainAccuracy = probabilities.filter((p, i) => argmax(p) === y[i]).length / y.length;

    const state = preprocessor.toJSON();
    const inputsSignature: ModelField[] = [
      ...state.numeric.map((n) => ({ name: n.name, type: 'float64' })),
      ...state.categorical.map((c) => ({ name: c.name, type: 'category', values: c.categories })),
    ];
    const bundle: ModelBundle = {
      manifest: {
        flavor,
        framework: { name: flavor, version: packageVersion(flavor) },
        signature: {
          inputs: inputsSignature,
          outputs: [
            { name: LABEL, type: 'category', values: [...species.labels] },
            { name: 'probabilities', type: `tensor<float64>[${k}]` },
          ],
        },
        libraries: libraries(flavor),
        preprocessing: 'preprocessing.json',
        metadata: {
          hyperparameters,
          features: preprocessor.featureNames,
          trainingRows: rows.length,
        },
      },
      files: {
        'model.json': canonicalJson(payload),
        'preprocessing.json': canonicalJson(state),
      },
    };
    log.info(`${flavor}: training accuracy ${trainAccuracy.toFixed(4)}`, hyperparameters);
    return {
      model: bundle,
      metrics: { train_accuracy: trainAccuracy, train_rows: rows.length, features: X[0]?.length ?? 0 },
    };
  },
});
