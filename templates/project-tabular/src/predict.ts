/**
 * Serving without the training code: make a model bundle (the value a step
 * receives, or a folder from `cairn artifacts get`) ready to predict raw
 * rows. The bundle carries the fitted preprocessing, the class labels, the
 * input signature and the forest's JSON, so this file imports no step.
 */
import { resolve } from 'node:path';
import { CairnError, ErrorCodes, loadModelBundle, type ModelBundle, type ModelManifest } from '@cairn/core';
import { checkRowsAgainstSignature, Preprocessor } from '@cairn/tabular';
import { argmax, loadClassifier } from './classifier';

/** One prediction: the most likely label and the probability of each label. */
export interface Prediction {
  label: string;
  probabilities: Record<string, number>;
}

/** A bundle ready to serve. */
export interface LoadedModel {
  manifest: ModelManifest;
  /** Class labels, in the order of the classifier's outputs. */
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
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH when the bundle lacks its preprocessing, labels or weights
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
  const labels = manifest.signature.outputs[0]?.values;
  if (!labels || labels.length < 2) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      'model bundle: the first output of the signature must list the class labels',
    );
  }
  const classifier = loadClassifier(manifest.flavor, file('model.json', 'weights'), labels.length);
  return {
    manifest,
    labels: [...labels],
    predict(rows) {
      // A server receives rows from anyone: refuse (HTTP 400) what the model was not trained for.
      checkRowsAgainstSignature(rows, manifest.signature.inputs);
      const probabilities = classifier.predictProba(preprocessor.transform(rows));
      return probabilities.map((p) => ({
        label: labels[argmax(p)]!,
        probabilities: Object.fromEntries(labels.map((label, c) => [label, p[c]!])),
      }));
    },
  };
}
