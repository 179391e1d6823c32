import { formatNumber, htmlReport, type ReportSection } from './html';
import type { ClassificationMetrics } from './metrics';
import { barChartSvg, calibrationSvg, confusionMatrixSvg, rocCurveSvg } from './svg';

/** What a classification report says about the model, besides its scores. */
export interface ClassificationReportOptions {
  /** Page title. @default 'Classifier evaluation' */
  title?: string;
  /** What the label is called in tables, e.g. `'species'`. @default 'class' */
  labelName?: string;
  /** One line about the evaluation data, Markdown. @default "Held-out split: N rows." */
  description?: string;
  /** The evaluated model: its artifact digest and manifest (flavor, libraries, metadata.hyperparameters). */
  model?: {
    artifact: string;
    manifest: { flavor: string; libraries?: Record<string, string>; metadata?: Record<string, unknown> };
  };
}

/**
 * A self-contained HTML evaluation report for a classifier: headline scores,
 * the confusion matrix, per-class precision/recall, ROC curves and
 * calibration when probabilities were given, and the model's facts. Wrap the
 * result with `reportHtml()` from @cairn/core to return it as a `report()`.
 *
 * @example
 * ```ts
 * const m = classificationMetrics(yTrue, yPred, { probabilities });
 * return { report: reportHtml(classificationReport(m, { title: 'Penguins', labelName: 'species' })) };
 * ```
 */
export function classificationReport(
  m: ClassificationMetrics,
  options: ClassificationReportOptions = {},
): string {
  const labelName = options.labelName ?? 'class';
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
      markdown:
        options.description ??
        `Held-out split: **${m.count}** rows, never seen in training or preprocessing.`,
      table: { columns: ['metric', 'value'], rows: headline },
    },
    {
      heading: 'Confusion matrix',
      markdown: `Rows are the true ${labelName}, columns the predicted one; colour is the share of the row.`,
      svg: confusionMatrixSvg(m.confusionMatrix, m.labels),
    },
    {
      heading: 'Per class',
      table: {
        columns: [labelName, 'precision', 'recall', 'F1', 'support'],
        rows: m.labels.map((label) => {
          const scores = m.perClass[label]!;
          return [label, scores.precision, scores.recall, scores.f1, scores.support];
        }),
      },
      svg: [
        barChartSvg(Object.fromEntries(m.labels.map((l) => [l, m.perClass[l]!.precision])), {
          title: `Precision per ${labelName}`,
          width: 320,
        }),
        barChartSvg(Object.fromEntries(m.labels.map((l) => [l, m.perClass[l]!.recall])), {
          title: `Recall per ${labelName}`,
          width: 320,
        }),
      ].join('\n'),
    },
  ];
  if (m.roc) sections.push({ heading: 'ROC curves (one-vs-rest)', svg: rocCurveSvg(m.roc) });
  if (m.calibration) {
    sections.push({
      heading: 'Calibration',
      markdown: 'How often the top prediction is right, per confidence bin.',
      svg: calibrationSvg(m.calibration),
    });
  }
  if (options.model) {
    const { manifest } = options.model;
    const metadata = (manifest.metadata ?? {}) as {
      hyperparameters?: Record<string, unknown>;
      trainingRows?: number;
    };
    sections.push({
      heading: 'Model',
      table: {
        columns: ['property', 'value'],
        rows: [
          ['flavor', manifest.flavor],
          ['artifact', options.model.artifact],
          ['training rows', metadata.trainingRows ?? ''],
          ...Object.entries(metadata.hyperparameters ?? {}).map(([k, v]) => [k, v as string | number]),
          ...Object.entries(manifest.libraries ?? {}).map(([k, v]) => [`library ${k}`, v]),
        ],
      },
    });
  }
  return htmlReport({
    title: options.title ?? 'Classifier evaluation',
    subtitle: `macro-F1 ${formatNumber(m.macroF1)} · accuracy ${formatNumber(m.accuracy)} · ${m.count} test rows`,
    sections,
  });
}
