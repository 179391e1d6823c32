/**
 * The serving half of the two model flavors this project trains: rebuild a
 * fitted classifier from the JSON stored in its bundle and score feature
 * vectors. Training code lives in steps/train.ts; nothing here fits anything.
 */
import { CairnError, ErrorCodes } from '@cairn/core';
import LogisticRegression, { type LogisticRegressionJSON } from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { RandomForestClassifier } from 'ml-random-forest';

type ForestJSON = Parameters<typeof RandomForestClassifier.load>[0];

/** Bundle flavors, named after the library that loads them. */
export const FLAVORS = ['ml-random-forest', 'ml-logistic-regression'] as const;
export type Flavor = (typeof FLAVORS)[number];

/** A fitted classifier over `classes` encoded classes 0…classes−1. */
export interface Classifier {
  /** Per row, the probability of each class (they sum to 1). */
  predictProba(features: number[][]): number[][];
}

/**
 * Rebuild a classifier from the `model.json` of its bundle.
 * @throws CAIRN_ARTIFACT_TYPE_MISMATCH for an unknown flavor or a payload the library refuses
 */
export function loadClassifier(flavor: string, payload: unknown, classes: number): Classifier {
  try {
    if (flavor === 'ml-random-forest') {
      return randomForest(RandomForestClassifier.load(payload as ForestJSON), classes);
    }
    if (flavor === 'ml-logistic-regression') {
      return logisticRegression(LogisticRegression.load(payload as LogisticRegressionJSON), classes);
    }
  } catch (cause) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_TYPE_MISMATCH,
      `model.json is not a ${flavor} model: ${(cause as Error).message}`,
      { cause },
    );
  }
  throw new CairnError(
    ErrorCodes.ARTIFACT_TYPE_MISMATCH,
    `unknown model flavor "${flavor}" (this project serves ${FLAVORS.join(', ')})`,
  );
}

/**
 * Random forest probabilities are the share of trees voting for each class.
 * (The library's own predictProbability drops the first tree's vote: its
 * reduce has no initial value.)
 */
export function randomForest(forest: RandomForestClassifier, classes: number): Classifier {
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

/**
 * ml-logistic-regression fits one-vs-rest models whose score is the
 * probability of "not this class"; one minus it, normalized over the
 * classes, gives a distribution whose arg max is the library's prediction.
 */
export function logisticRegression(model: LogisticRegression, classes: number): Classifier {
  return {
    predictProba(features) {
      if (features.length === 0) return [];
      const X = new Matrix(features);
      const scores = model.classifiers.map((c) => c.testScores(X));
      if (scores.length !== classes) {
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `the logistic regression has ${scores.length} classes, the bundle names ${classes}`,
        );
      }
      return features.map((_, i) => {
        const p = scores.map((s) => 1 - s[i]!);
        const total = p.reduce((a, b) => a + b, 0);
        return total > 0 ? p.map((v) => v / total) : p.map(() => 1 / classes);
      });
    },
  };
}

/** Index of the largest value; the first one on ties, so predictions are deterministic. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
