import { CairnError, ErrorCodes, metrics, model, report, reportHtml, step } from '@cairn/core';
import {
  classificationMetrics,
  classificationReport,
  metricsSummary,
  table,
  tableFromRows,
} from '@cairn/tabular';
import { z } from 'zod';
import { LABEL, type Penguin } from '../src/penguin';
import { modelFromBundle } from '../src/predict';

/** One scored test row: the true and predicted species and the probability of each. */
export type PredictionRow = { actual: string; predicted: string } & Record<string, string | number>;

const config = z.object({
  /** Equal-width confidence bins of the calibration chart. */
  calibrationBins: z.number().int().positive().default(10),
  /** Fail the run when held-out macro-F1 is below this (a floor, not the promotion gate). */
  minMacroF1: z.number().min(0).max(1).default(0),
});

/**
 * Offline evaluation on the held-out split, through the same code a server
 * uses (src/predict.ts on the bundle): accuracy, macro-F1, per-class
 * precision and recall, the confusion matrix, one-vs-rest ROC/AUC and
 * calibration from the predicted probabilities. Writes the flat `metrics`
 * the registry and the gate read, an HTML report with inline SVG charts, and
 * the predictions themselves.
 */
export const evaluate = step({
  name: 'evaluate',
  description: 'Score the model on the held-out split and write the evaluation report',
  config,
  inputs: { model: model(), test: table<Penguin>() },
  outputs: { metrics: metrics(), report: report(), predictions: table<PredictionRow>() },
  run({ config, inputs, artifacts, log }) {
    const served = modelFromBundle(inputs.model);
    const rows = inputs.test.rows();
    const predictions = served.predict(rows);
    const labels = served.labels;
    const actual = rows.map((r) => r[LABEL]);
    const m = classificationMetrics(
      actual,
      predictions.map((p) => p.label),
      {
        labels,
        probabilities: predictions.map((p) => labels.map((l) => p.probabilities[l]!)),
        bins: config.calibrationBins,
      },
    );
    const scores: Record<string, number> = { ...metricsSummary(m), test_rows: m.count };
    for (const label of labels) {
      scores[`precision.${label}`] = m.perClass[label]!.precision;
      scores[`recall.${label}`] = m.perClass[label]!.recall;
    }
    log.info(`accuracy ${m.accuracy.toFixed(4)}, macro-F1 ${m.macroF1.toFixed(4)} on ${m.count} test rows`);
    if (m.macroF1 < config.minMacroF1) {
      throw new CairnError(
        ErrorCodes.GATE_REFUSED,
        `macro-F1 ${m.macroF1.toFixed(4)} is below the floor minMacroF1 = ${config.minMacroF1} (conf evaluate.yaml)`,
      );
    }
    const content = classificationReport(m, {
      title: 'Penguins classifier: evaluation',
      labelName: 'species',
      description: `Held-out split: **${m.count}** penguins, never seen in training or preprocessing.`,
      model: { artifact: artifacts.model?.digest ?? '', manifest: inputs.model.manifest },
    });
    const predictionRows = rows.map((row, i) => {
      const out: Record<string, string | number> = { actual: row[LABEL], predicted: predictions[i]!.label };
      for (const label of labels) out[`p_${label}`] = predictions[i]!.probabilities[label]!;
      return out as PredictionRow;
    });
    return {
      metrics: scores,
      report: reportHtml(content, { title: 'Penguins classifier: evaluation' }),
      predictions: tableFromRows(predictionRows),
    };
  },
});
