/**
 * Serving without the training code: make a model bundle (the value a step
 * receives, or a folder from `cairn artifacts get`) ready to predict raw
 * rows. The bundle carries the fitted preprocessing, the task (its
 * signature's output: the class labels, or a number), the input signature
 * and the forest's JSON, so this file imports no step.
 */
import { resolve } from 'node:path';
import { CairnError, ErrorCodes, type ModelBundle, type ModelManifest } from '@cairn/core';
import { loadModelBundle } from '@cairn/runtime';
import { checkRowsAgainstSignature, Preprocessor } from '@cairn/tabular';
import { argmax, loadClassifier, loadRegressor } from './forest';
import type { Task } from './row';

/** A classifier's prediction: the most likely label and the probability of each label. */
export interface ClassPrediction {
  label: string;
  probabilities: Record<string, number>;
}

/** A regression model's prediction. */
export interface ValuePrediction {
  value: number;
}

export type Prediction = ClassPrediction | ValuePrediction;

/** A bundle ready to serve. */
export interface LoadedModel {
  manifest: ModelManifest;
  task: Task;
  /** The column the model predicts. */
  target: string;
  /** Class labels, in the order of the classifier's outputs; empty for regression. */
  labels: string[];
  /** Predict raw rows (the input signature's columns; missing values as `null`). */
  predict(rows: readonly object[]): Prediction[];
}

const decoder = new TextDecoder();

/** Read a bundle folder (`cairn-model.json` + `files/`) and make it ready to serve. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  return modelFromBundle(await loadModelBundle(resolve(dir)));
}

/**
 * Make a bundle ready to serve.
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH when the bundle lacks its preprocessing, output or weights
 */
export function modelFromBundle(bundle: ModelBundle): LoadedModel {
  const { manifest, files } = bundle;
  const file = (name: string | undefined, what: string): unknown => {
    const content = name === undefined ? undefined : files[name];
    if (content === undefined) {
      throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `model bundle has no ${what} file`);
    }
    return JSON.parse(typeof content === 'string' ? content : decoder.decode(content));
  };
  const preprocessor = Preprocessor.fromJSON(file(manifest.preprocessing, 'preprocessing'));
  const output = manifest.signature.outputs[0];
  if (!output) {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, 'model bundle: the signature has no output');
  }
  // A server receives rows from anyone: refuse (HTTP 400) what the model was not trained for.
  const features = (rows: readonly object[]) => {
    checkRowsAgainstSignature(rows, manifest.signature.inputs);
    return preprocessor.transform(rows);
  };
  if (output.type === 'float64') {
    const regressor = loadRegressor(manifest.flavor, file('model.json', 'weights'));
    return {
      manifest,
      task: 'regression',
      target: output.name,
      labels: [],
      predict: (rows) => regressor.predict(features(rows)).map((value) => ({ value })),
    };
  }
  const labels = output.values;
  if (output.type !== 'category' || !labels || labels.length < 2) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      'model bundle: the first output of the signature must be a number (float64) or list the class labels',
    );
  }
  const classifier = loadClassifier(manifest.flavor, file('model.json', 'weights'), labels.length);
  return {
    manifest,
    task: 'classification',
    target: output.name,
    labels: [...labels],
    predict: (rows) =>
      classifier.predictProba(features(rows)).map((p) => ({
        label: labels[argmax(p)]!,
        probabilities: Object.fromEntries(labels.map((label, c) => [label, p[c]!])),
      })),
  };
}
