/**
 * The serving half of the model: rebuild the fitted random forest from the
 * JSON stored in its bundle and score feature vectors. Training lives in
 * steps/train.ts; nothing here fits anything.
 */
import { CairnError, ErrorCodes } from '@cairn/core';
import { RandomForestClassifier, RandomForestRegression } from 'ml-random-forest';

/** The bundle flavor: the library that loads the model. */
export const FLAVOR = 'ml-random-forest';

type ClassifierJSON = Parameters<typeof RandomForestClassifier.load>[0];
type RegressionJSON = Parameters<typeof RandomForestRegression.load>[0];

/** A fitted classifier over the encoded classes 0…classes−1. */
export interface Classifier {
  /** Per row, the probability of each class (they sum to 1). */
  predictProba(features: number[][]): number[][];
}

/** A fitted regression model. */
export interface Regressor {
  predict(features: number[][]): number[];
}

/**
 * Probabilities are the share of trees voting for each class. (The
 * library's own predictProbability drops the first tree's vote.)
 */
export function forestClassifier(forest: RandomForestClassifier, classes: number): Classifier {
  return {
    predictProba(features) {
      if (features.length === 0) return [];
      const votes = forest.predictionValues(features);
      const out: number[][] = [];
      for (let i = 0; i < votes.rows; i++) {
        const counts = new Array<number>(classes).fill(0);
        const row = votes.getRow(i);
        for (const vote of row) counts[vote]!++;
        out.push(counts.map((c) => c / row.length));
      }
      return out;
    },
  };
}

export function forestRegressor(forest: RandomForestRegression): Regressor {
  return { predict: (features) => (features.length === 0 ? [] : forest.predict(features)) };
}

function load<T>(flavor: string, build: () => T): T {
  if (flavor !== FLAVOR) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      `unknown model flavor "${flavor}" (this project serves ${FLAVOR})`,
    );
  }
  try {
    return build();
  } catch (cause) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      `model.json is not a ${flavor} model: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * Rebuild the classifier from the `model.json` of a bundle.
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH for another flavor or a payload the library refuses
 */
export function loadClassifier(flavor: string, payload: unknown, classes: number): Classifier {
  return load(flavor, () =>
    forestClassifier(RandomForestClassifier.load(payload as ClassifierJSON), classes),
  );
}

/** Rebuild the regression forest from the `model.json` of a bundle. */
export function loadRegressor(flavor: string, payload: unknown): Regressor {
  return load(flavor, () => forestRegressor(RandomForestRegression.load(payload as RegressionJSON)));
}

/** Index of the largest value; the first one on ties, so predictions are deterministic. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
