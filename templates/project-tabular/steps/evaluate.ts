import { CairnError, ErrorCodes, metrics, model, report, reportHtml, step } from '@cairn/core';
import { classificationMetrics, classificationReport, metricsSummary, table } from '@cairn/tabular';
import { z } from 'zod';
import { LABEL, type Penguin } from '../src/penguin';
import { modelFromBundle } from '../src/predict';

const config = z.object({
  /** Equal-width confidence bins of the calibration chart. */
  calibrationBins: z.number().int().positive(),
  /** Fail the run when held-out macro-F1 is below this (a floor; the promotion gate is the gate step). */
  minMacroF1: z.number().min(0).max(1),
});

/**
 * Offline evaluation on the held-out split, through the serving code
 * (src/predict.ts on the bundle): accuracy, macro-F1, per-class precision
 * and recall, the confusion matrix, one-vs-rest ROC/AUC and calibration.
 * Writes the flat `metrics` the registry and the gate read, and an HTML
 * report whose charts are inline SVG (`cairn report latest --open`).
 */
export const evaluate = step({
  name: 'evaluate',
  description: 'Score the model on the held-out split and write the evaluation report',
  config,
  inputs: { model: model(), test: table<Penguin>() },
  outputs: { metrics: metrics(), report: report() },
  run({ config, inputs, artifacts, log }) {
    const served = modelFromBundle(inputs.model);
    const rows = inputs.test.rows();
    const predictions = served.predict(rows);
    const labels = served.labels;
    const m = classificationMetrics(
      rows.map((r) => r[LABEL]),
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
        { hint: 'Improve the model, or lower evaluate.minMacroF1 in conf/.' },
      );
    }
    const content = classificationReport(m, {
      title: 'Penguins classifier: evaluation',
      labelName: LABEL,
      model: { artifact: artifacts.model?.digest ?? '', manifest: inputs.model.manifest },
    });
    return { metrics: scores, report: reportHtml(content, { title: 'Penguins classifier: evaluation' }) };
  },
});
