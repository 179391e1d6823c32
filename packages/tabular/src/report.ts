import { formatNumber, htmlReport, type ReportSection } from './html';
import type { ClassificationMetrics } from './metrics';
import type { RegressionMetrics } from './regression';
import {
  barChartSvg,
  calibrationSvg,
  confusionMatrixSvg,
  predictedVsActualSvg,
  residualsSvg,
  rocCurveSvg,
} from './svg';

/** The evaluated model: its artifact digest and manifest (flavor, libraries, metadata.hyperparameters). */
export interface ReportModel {
  artifact: string;
  manifest: { flavor: string; libraries?: Record<string, string>; metadata?: Record<string, unknown> };
}

/** What a classification report says about the model, besides its scores. */
export interface ClassificationReportOptions {
  /** Page title. @default 'Classifier evaluation' */
  title?: string;
  /** What the label is called in tables, e.g. `'species'`. @default 'class' */
  labelName?: string;
  /** One line about the evaluation data, Markdown. @default "Held-out split: N rows." */
  description?: string;
  /** The evaluated model: its artifact digest and manifest (flavor, libraries, metadata.hyperparameters). */
  model?: ReportModel;
  /** Feature name → importance, where the model gives one (a forest's impurity decrease); drawn largest first. */
  featureImportance?: Record<string, number>;
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
    [`baseline accuracy (always "${m.baseline.label}")`, m.baseline.accuracy],
    ['baseline macro-F1', m.baseline.macroF1],
  ] as Array<[string, number]>;
  const sections: ReportSection[] = [];
  if (m.neverPredicted.length > 0) {
    sections.push({
      heading: 'Warning: classes never predicted',
      markdown: `The model never predicts ${m.neverPredicted.map((l) => `**${l}**`).join(', ')}, although the test data holds ${m.neverPredicted.map((l) => `${m.classBalance[l]} × ${l}`).join(', ')}. It has not learned ${m.neverPredicted.length === 1 ? 'this class' : 'these classes'}: rebalance the data, add features, or check the labels.`,
    });
  }
  sections.push(
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
    {
      heading: 'Class balance',
      markdown: `Test rows per ${labelName}. The baseline always predicts the majority class, **${m.baseline.label}**: accuracy ${formatNumber(m.baseline.accuracy)}.`,
      svg: barChartSvg(m.classBalance, { title: `Rows per ${labelName}`, width: 320 }),
    },
  );
  if (options.featureImportance) sections.push(featureImportanceSection(options.featureImportance));
  if (m.roc) sections.push({ heading: 'ROC curves (one-vs-rest)', svg: rocCurveSvg(m.roc) });
  if (m.calibration) {
    sections.push({
      heading: 'Calibration',
      markdown: 'How often the top prediction is right, per confidence bin.',
      svg: calibrationSvg(m.calibration),
    });
  }
  if (options.model) sections.push(modelSection(options.model));
  return htmlReport({
    title: options.title ?? 'Classifier evaluation',
    subtitle: `macro-F1 ${formatNumber(m.macroF1)} · accuracy ${formatNumber(m.accuracy)} · ${m.count} test rows`,
    sections,
  });
}

function featureImportanceSection(importance: Record<string, number>): ReportSection {
  return {
    heading: 'Feature importance',
    markdown: 'What the model relies on most (as the model measures it; one-hot columns count separately).',
    svg: barChartSvg(importance, { title: 'Feature importance', sort: 'desc' }),
  };
}

function modelSection(reportModel: ReportModel): ReportSection {
  const { manifest } = reportModel;
  const metadata = (manifest.metadata ?? {}) as {
    hyperparameters?: Record<string, unknown>;
    trainingRows?: number;
  };
  return {
    heading: 'Model',
    table: {
      columns: ['property', 'value'],
      rows: [
        ['flavor', manifest.flavor],
        ['artifact', reportModel.artifact],
        ['training rows', metadata.trainingRows ?? ''],
        ...Object.entries(metadata.hyperparameters ?? {}).map(([k, v]) => [k, v as string | number]),
        ...Object.entries(manifest.libraries ?? {}).map(([k, v]) => [`library ${k}`, v]),
      ],
    },
  };
}

/** What a regression report says about the model, besides its scores. */
export interface RegressionReportOptions {
  /** Page title. @default 'Regression evaluation' */
  title?: string;
  /** What the target is called on axes and in tables, e.g. `'mpg'`. @default 'value' */
  targetName?: string;
  /** One line about the evaluation data, Markdown. @default "Held-out split: N rows." */
  description?: string;
  model?: ReportModel;
  featureImportance?: Record<string, number>;
}

/**
 * A self-contained HTML evaluation report for a regression model: RMSE, MAE,
 * R², MAPE beside the mean predictor's, predicted-vs-actual and residual
 * charts, feature importance and the model's facts.
 *
 * @example
 * ```ts
 * const m = regressionMetrics(actual, predicted, { baselineMean });
 * return { report: reportHtml(regressionReport(m, actual, predicted, { targetName: 'mpg' })) };
 * ```
 */
export function regressionReport(
  m: RegressionMetrics,
  actual: readonly number[],
  predicted: readonly number[],
  options: RegressionReportOptions = {},
): string {
  const name = options.targetName ?? 'value';
  const better = m.rmse < m.baseline.rmse;
  const sections: ReportSection[] = [];
  if (!better) {
    sections.push({
      heading: 'Warning: no better than the mean',
      markdown: `The model's RMSE (${formatNumber(m.rmse)}) is not below the RMSE of always predicting the training mean ${formatNumber(m.baseline.mean)} (${formatNumber(m.baseline.rmse)}): it has not learned ${name}.`,
    });
  }
  sections.push(
    {
      heading: 'Scores',
      markdown:
        options.description ??
        `Held-out split: **${m.count}** rows, never seen in training or preprocessing. The baseline always predicts the training mean, ${formatNumber(m.baseline.mean)}.`,
      table: {
        columns: ['metric', 'model', 'baseline (mean)'],
        rows: [
          ['RMSE', m.rmse, m.baseline.rmse],
          ['MAE', m.mae, m.baseline.mae],
          ['R²', m.r2, m.baseline.r2],
          ['MAPE', m.mape ?? '', ''],
          ['mean residual', m.meanResidual, ''],
          ['largest absolute error', m.maxAbsError, ''],
        ],
      },
    },
    {
      heading: 'Predicted vs actual',
      markdown: 'One dot per test row; a perfect model puts every dot on the dashed diagonal.',
      svg: predictedVsActualSvg(actual, predicted, { valueName: name }),
    },
    {
      heading: 'Residuals',
      markdown:
        'Actual minus predicted against the prediction: a funnel or a curve means errors that depend on the prediction.',
      svg: residualsSvg(actual, predicted, { valueName: name }),
    },
  );
  if (options.featureImportance) sections.push(featureImportanceSection(options.featureImportance));
  if (options.model) sections.push(modelSection(options.model));
  return htmlReport({
    title: options.title ?? 'Regression evaluation',
    subtitle: `RMSE ${formatNumber(m.rmse)} (baseline ${formatNumber(m.baseline.rmse)}) · R² ${formatNumber(m.r2)} · ${m.count} test rows`,
    sections,
  });
}
