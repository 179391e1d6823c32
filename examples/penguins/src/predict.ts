/**
 * Serving without the training code: load a model bundle (a folder as
 * stored by the `model` artifact type, or the value a step received) and
 * predict raw penguin rows. The bundle carries everything needed — the
 * fitted preprocessing, the class labels, the input signature and the
 * classifier's JSON — so this file imports no step and fits nothing.
 *
 * Command line (rows as a JSON array, predictions printed as JSON lines):
 *   node --import tsx src/predict.ts <bundle-folder> <rows.json>
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError, ErrorCodes, type ModelBundle, type ModelManifest } from '@cairn/core';
import { loadModelBundle } from '@cairn/runtime';
import { checkRowsAgainstSignature, Preprocessor } from '@cairn/tabular';
import { argmax, type Classifier, loadClassifier } from './classifier';

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
const text = (content: Uint8Array | string) =>
  typeof content === 'string' ? content : decoder.decode(content);

/** Read a bundle folder (`cairn-model.json` + `files/`) and make it ready to serve. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const path = resolve(dir);
  return modelFromBundle(await loadModelBundle(path));
}

/**
 * Make a bundle ready to serve.
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH when the bundle lacks its preprocessing, its labels or its weights
 */
export function modelFromBundle(bundle: ModelBundle): LoadedModel {
  const { manifest, files } = bundle;
  const file = (name: string | undefined, what: string): unknown => {
    const content = name === undefined ? undefined : files[name];
    if (content === undefined) {
      throw new CairnError(
        ErrorCodes.ARTIFACT_TYPE_MISMATCH,
        `model bundle has no ${what} file (${name ?? 'unnamed'})`,
      );
    }
    return JSON.parse(text(content));
  };
  const preprocessor = Preprocessor.fromJSON(file(manifest.preprocessing, 'preprocessing'));
  const output = manifest.signature.outputs[0];
  const labels = output?.values;
  if (!labels || labels.length < 2) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      'model bundle: the first output of the signature must list the class labels',
    );
  }
  const classifier: Classifier = loadClassifier(
    manifest.flavor,
    file('model.json', 'weights'),
    labels.length,
  );
  const inputs = manifest.signature.inputs;
  return {
    manifest,
    labels: [...labels],
    predict(rows) {
      // Refuse a row the model was not trained for, naming the column, rather than predict garbage.
      checkRowsAgainstSignature(rows, inputs);
      const probabilities = classifier.predictProba(preprocessor.transform(rows));
      return probabilities.map((p) => ({
        label: labels[argmax(p)]!,
        probabilities: Object.fromEntries(labels.map((label, c) => [label, p[c]!])),
      }));
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const [bundleDir, rowsFile] = argv;
  if (!bundleDir || !rowsFile) {
    process.stderr.write('usage: predict <bundle-folder> <rows.json>\n');
    process.exitCode = 2;
    return;
  }
  const served = await loadModel(bundleDir);
  const rows = JSON.parse(await readFile(rowsFile, 'utf8')) as object[];
  for (const prediction of served.predict(rows)) process.stdout.write(`${JSON.stringify(prediction)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
