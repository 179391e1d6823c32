import { CairnError, ErrorCodes, metrics, model, report, step } from '@cairn/core';
import {
  barChartSvg,
  type ClassificationMetrics,
  calibrationSvg,
  classificationMetrics,
  confusionMatrixSvg,
  formatNumber,
  htmlReport,
  metricsSummary,
  type ReportSection,
  rocCurveSvg,
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
    const content = evaluationReport(m, {
      model: artifacts.model?.digest ?? '',
      manifest: inputs.model.manifest as unknown as Record<string, unknown>,
    });
    const predictionRows = rows.map((row, i) => {
      const out: Record<string, string | number> = { actual: row[LABEL], predicted: predictions[i]!.label };
      for (const label of labels) out[`p_${label}`] = predictions[i]!.probabilities[label]!;
      return out as PredictionRow;
    });
    return {
      metrics: scores,
      report: { format: 'html' as const, title: 'Penguins classifier: evaluation', content },
      predictions: tableFromRows(predictionRows),
    };
  },
});

/** The evaluation report: headline scores, then one section per chart. */
export function evaluationReport(
  m: ClassificationMetrics,
  about: { model: string; manifest: Record<string, unknown> },
): string {
  const manifest = about.manifest as {
    flavor: string;
    libraries?: Record<string, string>;
    metadata?: { hyperparameters?: Record<string, unknown>; trainingRows?: number };
  };
  const headline = [
    ['accuracy', m.accuracy],
    ['macro-F1', m.macroF1],
    ['weighted F1', m.weightedF1],
    ['macro precision', m.macroPrecision],
    ['macro recall', m.macroRecall],
    ...(typeof m.macroAuc === 'number' ? [['macro AUC (one-vs-rest)', m.macroAuc]] : []),
    ...(m.calibration ? [['expected calibration error', m.calibration.ece]] : []),
  ] as Array<[string, number]>;
  const sections: ReportSection[] = [
    {
      heading: 'Scores',
      markdown: `Held-out split: **${m.count}** penguins, never seen in training or preprocessing.`,
      table: { columns: ['metric', 'value'], rows: headline },
    },
    {
      heading: 'Confusion matrix',
      markdown: 'Rows are the true species, columns the predicted one; colour is the share of the row.',
      svg: confusionMatrixSvg(m.confusionMatrix, m.labels),
    },
    {
      heading: 'Per class',
      table: {
        columns: ['species', 'precision', 'recall', 'F1', 'support'],
        rows: m.labels.map((l) => {
          const s = m.perClass[l]!;
          return [l, s.precision, s.recall, s.f1, s.support];
        }),
      },
      svg: [
        barChartSvg(Object.fromEntries(m.labels.map((l) => [l, m.perClass[l]!.precision])), {
          title: 'Precision per species',
          width: 320,
        }),
        barChartSvg(Object.fromEntries(m.labels.map((l) => [l, m.perClass[l]!.recall])), {
          title: 'Recall per species',
          width: 320,
        }),
      ].join('\n'),
    },
  ];
  if (m.roc) {
    sections.push({
      heading: 'ROC curves (one-vs-rest)',
      svg: rocCurveSvg(m.roc),
    });
  }
  if (m.calibration) {
    sections.push({
      heading: 'Calibration',
      markdown: 'How often the top prediction is right, per confidence bin.',
      svg: calibrationSvg(m.calibration),
    });
  }
  const hyper = manifest.metadata?.hyperparameters ?? {};
  sections.push({
    heading: 'Model',
    table: {
      columns: ['property', 'value'],
      rows: [
        ['flavor', manifest.flavor],
        ['artifact', about.model],
        ['training rows', manifest.metadata?.trainingRows ?? ''],
        ...Object.entries(hyper).map(([k, v]) => [k, v]),
        ...Object.entries(manifest.libraries ?? {}).map(([k, v]) => [`library ${k}`, v]),
      ],
    },
  });
  return htmlReport({
    title: 'Penguins classifier: evaluation',
    subtitle: `macro-F1 ${formatNumber(m.macroF1)} · accuracy ${formatNumber(m.accuracy)} · ${m.count} test rows`,
    sections,
  });
}
