import { CairnError, ErrorCodes, json, step } from '@cairn/core';
import {
  fitPreprocessor,
  type PreprocessorState,
  randomSplit,
  type Split,
  stratifiedSplit,
  table,
  tableFromRows,
  timeSplit,
  timeWindow,
  type ValidationReportData,
} from '@cairn/tabular';
import { z } from 'zod';
import type { DatasetSpec, Row } from '../src/row';

const columnName = z.string().min(1).max(256);

const config = z
  .strictObject({
    /** classification: predict a category; regression: predict a number. */
    task: z.enum(['classification', 'regression']),
    /** The column the model predicts. */
    target: columnName,
    /** Numeric features: imputed with the training mean or median, then standardized. */
    numeric: z.array(columnName).max(10_000),
    /** Categorical features: one-hot over the training vocabulary. */
    categorical: z.array(columnName).max(10_000),
    /**
     * How test rows are chosen. stratified: every class keeps its share
     * (classification); random; time: the latest rows by `timeColumn`.
     */
    split: z.enum(['stratified', 'random', 'time']),
    /** Share of rows held out for evaluation. */
    testFraction: z.number().gt(0).lt(1),
    seed: z.number().int(),
    /** For split: time, the column that orders the rows (dates, ISO strings or numbers). */
    timeColumn: columnName.optional(),
    /** Train only on the rows of the last `last` (e.g. 730d, 12w, 36h) before the newest row. */
    window: z.strictObject({ column: columnName, last: z.string().regex(/^\d+(\.\d+)?[hdw]$/) }).optional(),
    impute: z.enum(['mean', 'median']),
    scale: z.enum(['standard', 'none']),
  })
  .refine((c) => c.numeric.length + c.categorical.length > 0, {
    message: 'name at least one feature (numeric or categorical)',
  })
  .refine((c) => ![...c.numeric, ...c.categorical].includes(c.target), {
    message: 'the target cannot be a feature too',
  })
  .refine((c) => c.split !== 'time' || c.timeColumn !== undefined, {
    message: 'split: time needs timeColumn',
  })
  .refine((c) => c.split !== 'stratified' || c.task === 'classification', {
    message: 'split: stratified is for classification; use random or time for regression',
  });

/**
 * Data preparation: drop rows without a target or without any feature,
 * keep the time window if one is set, split train/test (stratified by the
 * label, at random, or by time) with a seed, and learn the preprocessing
 * (imputation, scaling, one-hot encoding) on the training split only, so
 * nothing about the test rows leaks into the model. The splits stay raw:
 * the model bundle applies the preprocessing itself, exactly as serving will.
 */
export const prepare = step({
  name: 'prepare',
  description: 'Split train/test and fit the preprocessing on the training split',
  config,
  inputs: { data: table<Row>(), validation: json<ValidationReportData>() },
  outputs: {
    train: table<Row>(),
    test: table<Row>(),
    preprocessor: json<PreprocessorState>(),
    spec: json<DatasetSpec>(),
  },
  run({ config, inputs, log }) {
    if (!inputs.validation.ok) {
      throw new CairnError(ErrorCodes.DATA_INVALID, 'prepare: the data did not pass validation');
    }
    const columns = new Set(inputs.data.schema.fields.map((f) => f.name));
    const unknown = [config.target, ...config.numeric, ...config.categorical, config.timeColumn]
      .filter((c): c is string => c !== undefined)
      .filter((c) => !columns.has(c));
    if (unknown.length > 0) {
      throw new CairnError(
        ErrorCodes.DATA_INVALID,
        `prepare: the data has no column ${unknown.map((c) => `"${c}"`).join(', ')} (conf prepare.yaml)`,
      );
    }
    const present = (value: unknown) => value !== null && value !== undefined;
    const all = inputs.data.rows();
    const usable = all.filter(
      (row) =>
        present(row[config.target]) &&
        [...config.numeric, ...config.categorical].some((name) => present(row[name])),
    );
    const rows = config.window ? timeWindow(usable, config.window) : usable;
    const split: Split<Row> =
      config.split === 'time'
        ? timeSplit(rows, { by: config.timeColumn!, testFraction: config.testFraction })
        : config.split === 'stratified'
          ? stratifiedSplit(rows, { by: config.target, testFraction: config.testFraction, seed: config.seed })
          : randomSplit(rows, { testFraction: config.testFraction, seed: config.seed });
    if (split.train.length < 2 || split.test.length < 1) {
      throw new CairnError(
        ErrorCodes.DATA_INVALID,
        `prepare: ${rows.length} usable rows give ${split.train.length} training and ${split.test.length} test rows; that is too few to train and evaluate`,
      );
    }
    const preprocessor = fitPreprocessor(split.train, {
      numeric: config.numeric,
      categorical: config.categorical,
      impute: config.impute,
      scale: config.scale,
    });
    log.info(
      `${split.train.length} training rows, ${split.test.length} test rows (${all.length - usable.length} rows without target or features dropped${config.window ? `, ${usable.length - rows.length} outside the window` : ''})`,
      { features: preprocessor.featureNames },
    );
    // An explicit schema keeps the column types even when a split has no value in a column.
    const schema = Object.fromEntries(inputs.data.schema.fields.map((f) => [f.name, f.type]));
    return {
      train: tableFromRows(split.train, { schema }),
      test: tableFromRows(split.test, { schema }),
      preprocessor: preprocessor.toJSON(),
      spec: {
        task: config.task,
        target: config.target,
        numeric: config.numeric,
        categorical: config.categorical,
      },
    };
  },
});
