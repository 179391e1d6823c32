// ml-logistic-regression 2 ships no type declarations; this is the part the example uses.
declare module 'ml-logistic-regression' {
  import type { Matrix } from 'ml-matrix';

  interface TwoClassModel {
    weights: Matrix;
    /** Per row, the probability of "not this class" (one-vs-rest labels are inverted). */
    testScores(features: Matrix): number[];
  }

  export interface LogisticRegressionJSON {
    name: 'LogisticRegression';
    numSteps: number;
    learningRate: number;
    numberClasses: number;
    classifiers: unknown[];
  }

  export default class LogisticRegression {
    constructor(options?: { numSteps?: number; learningRate?: number });
    numberClasses: number;
    classifiers: TwoClassModel[];
    train(X: Matrix, Y: Matrix): void;
    predict(X: Matrix): number[];
    toJSON(): LogisticRegressionJSON;
    static load(model: LogisticRegressionJSON): LogisticRegression;
  }
}
