import { CairnError, ErrorCodes, metrics, model, report, reportHtml, step } from '@cairn/core';
import {
  classificationMetrics,
  classificationReport,
  metricsSummary,
  regressionMetrics,
  regressionReport,
  regressionSummary,
  table,
} from '@cairn/tabular';
import { z } from 'zod';
import { type ClassPrediction, modelFromBundle, type ValuePrediction } from '../src/predict';
import type { Row } from '../src/row';

const config = z.strictObject({
  /** Equal-width confidence bins of the calibration chart (classification). */
  calibrationBins: z.number().int().positive().max(100),
  /**
   * Fail the run when the model does no better than the baseline: the
   * majority class (macro-F1) or the training mean (RMSE). A model that
   * learned nothing must not reach the registry.
   */
  beatBaseline: z.boolean().default(true),
  /** Classification: fail the run when held-out macro-F1 is below this (a floor; the promotion gate is the gate step). */
  minMacroF1: z.number().min(0).max(1).optional(),
  /** Regression: fail the run when held-out R² is below this (0 is the mean of the test targets). */
  minR2: z.number().min(-1e6).max(1).optional(),
});

/**
 * Offline evaluation on the held-out split, through the serving code
 * (src/predict.ts on the bundle). Classification: accuracy, macro-F1,
 * per-class precision and recall, the confusion matrix, ROC/AUC,
 * calibration, the class balance and the majority-class baseline.
 * Regression: RMSE, MAE, R², MAPE beside the mean predictor, predicted vs
 * actual and residual charts. Writes the flat `metrics` the registry and the
 * gate read, and an HTML report (`cairn report latest --open`).
 */
export const evaluate = step({
  name: 'evaluate',
  description: 'Score the model on the held-out split and write the evaluation report',
  config,
  inputs: { model: model(), test: table<Row>() },
  outputs: { metrics: metrics(), report: report() },
  run({ config, inputs, artifacts, log }) {
    const served = modelFromBundle(inputs.model);
    const rows = inputs.test.rows();
    const predictions = served.predict(rows);
    const target = served.target;
    const metadata = (inputs.model.manifest.metadata ?? {}) as {
      featureImportance?: Record<string, number>;
      targetMean?: number;
      trainingClassCounts?: Record<string, number>;
    };
    const reportModel = { artifact: artifacts.model?.digest ?? '', manifest: inputs.model.manifest };
    const refuse = (message: string, hint: string): never => {
      throw new CairnError(ErrorCodes.GATE_REFUSED, message, { hint });
    };
    if (served.task === 'regression') {
      const actual = rows.map((r) => Number(r[target]));
      const predicted = (predictions as ValuePrediction[]).map((p) => p.value);
      const m = regressionMetrics(actual, predicted, {
        ...(metadata.targetMean !== undefined ? { baselineMean: metadata.targetMean } : {}),
      });
      log.info(
        `RMSE ${m.rmse.toPrecision(4)} (mean predictor ${m.baseline.rmse.toPrecision(4)}), R² ${m.r2.toFixed(4)} on ${m.count} test rows`,
      );
      if (config.beatBaseline && !(m.rmse < m.baseline.rmse)) {
        refuse(
          `RMSE ${m.rmse.toPrecision(4)} is no better than always predicting the training mean (${m.baseline.rmse.toPrecision(4)})`,
          'Check the features and the data, or set evaluate.beatBaseline: false in conf/.',
        );
      }
      if (config.minR2 !== undefined && m.r2 < config.minR2) {
        refuse(
          `R² ${m.r2.toFixed(4)} is below the floor minR2 = ${config.minR2} (conf evaluate.yaml)`,
          'Improve the model, or lower evaluate.minR2 in conf/.',
        );
      }
      const title = `${target}: evaluation`;
      const content = regressionReport(m, actual, predicted, {
        title,
        targetName: target,
        model: reportModel,
        ...(metadata.featureImportance ? { featureImportance: metadata.featureImportance } : {}),
      });
      return {
        metrics: { ...regressionSummary(m), test_rows: m.count },
        report: reportHtml(content, { title }),
      };
    }

    const labels = served.labels;
    const classes = predictions as ClassPrediction[];
    const trainLabels = Object.entries(metadata.trainingClassCounts ?? {}).flatMap(([label, n]) =>
      new Array<string>(n).fill(label),
    );
    const actual = rows.map((r) => String(r[target]));
    // A class the training split never saw can still be in the test split: it counts, with probability 0.
    const allLabels = [...new Set([...labels, ...actual])];
    const m = classificationMetrics(
      actual,
      classes.map((p) => p.label),
      {
        labels: allLabels,
        probabilities: classes.map((p) => allLabels.map((l) => p.probabilities[l] ?? 0)),
        bins: config.calibrationBins,
        ...(trainLabels.length > 0 ? { trainLabels } : {}),
      },
    );
    const scores: Record<string, number> = { ...metricsSummary(m), test_rows: m.count };
    for (const label of m.labels) {
      scores[`precision.${label}`] = m.perClass[label]!.precision;
      scores[`recall.${label}`] = m.perClass[label]!.recall;
    }
    log.info(`accuracy ${m.accuracy.toFixed(4)}, macro-F1 ${m.macroF1.toFixed(4)} on ${m.count} test rows`);
    if (m.neverPredicted.length > 0)
      log.warn(`the model never predicts ${m.neverPredicted.join(', ')} (see the report)`);
    if (config.beatBaseline && !(m.macroF1 > m.baseline.macroF1)) {
      refuse(
        `macro-F1 ${m.macroF1.toFixed(4)} is no better than always predicting "${m.baseline.label}" (${m.baseline.macroF1.toFixed(4)})`,
        'Check the features and the data, or set evaluate.beatBaseline: false in conf/.',
      );
    }
    if (config.minMacroF1 !== undefined && m.macroF1 < config.minMacroF1) {
      refuse(
        `macro-F1 ${m.macroF1.toFixed(4)} is below the floor minMacroF1 = ${config.minMacroF1} (conf evaluate.yaml)`,
        'Improve the model, or lower evaluate.minMacroF1 in conf/.',
      );
    }
    const title = `${target} classifier: evaluation`;
    const content = classificationReport(m, {
      title,
      labelName: target,
      model: reportModel,
      ...(metadata.featureImportance ? { featureImportance: metadata.featureImportance } : {}),
    });
    return { metrics: scores, report: reportHtml(content, { title }) };
  },
});
