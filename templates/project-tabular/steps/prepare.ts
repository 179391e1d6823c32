import { CairnError, ErrorCodes, json, step } from '@cairn/core';
import {
  fitPreprocessor,
  type PreprocessorState,
  stratifiedSplit,
  table,
  tableFromRows,
  type ValidationReportData,
} from '@cairn/tabular';
import { z } from 'zod';
import { LABEL, type Penguin } from '../src/penguin';

const config = z.object({
  /** Share of each class held out for evaluation. */
  testFraction: z.number().gt(0).lt(1),
  seed: z.number().int(),
  /** Numeric features: imputed with the training mean or median, then standardized. */
  numeric: z.array(z.string()).min(1),
  /** Categorical features: one-hot over the training vocabulary. */
  categorical: z.array(z.string()),
  impute: z.enum(['mean', 'median']),
  scale: z.enum(['standard', 'none']),
});

/**
 * Data preparation: drop rows with no measurement at all, split train/test
 * stratified by the label with a seed, and learn the preprocessing
 * (imputation, scaling, one-hot encoding) on the training split only, so
 * nothing about the test rows leaks into the model. The splits stay raw: the
 * model bundle applies the preprocessing itself, exactly as serving will.
 */
export const prepare = step({
  name: 'prepare',
  description: 'Split train/test and fit the preprocessing on the training split',
  config,
  inputs: { data: table<Penguin>(), validation: json<ValidationReportData>() },
  outputs: { train: table<Penguin>(), test: table<Penguin>(), preprocessor: json<PreprocessorState>() },
  run({ config, inputs, log }) {
    if (!inputs.validation.ok) {
      throw new CairnError(ErrorCodes.DATA_INVALID, 'prepare: the data did not pass validation');
    }
    const all = inputs.data.rows();
    const rows = all.filter((row) =>
      config.numeric.some((name) => {
        const value = row[name as keyof Penguin];
        return value !== null && value !== undefined;
      }),
    );
    const split = stratifiedSplit(rows, { by: LABEL, testFraction: config.testFraction, seed: config.seed });
    const preprocessor = fitPreprocessor(split.train, {
      numeric: config.numeric,
      categorical: config.categorical,
      impute: config.impute,
      scale: config.scale,
    });
    log.info(
      `${split.train.length} training rows, ${split.test.length} test rows (${all.length - rows.length} rows without measurements dropped)`,
      { features: preprocessor.featureNames },
    );
    // An explicit schema keeps the column types even when a split has no value in a column.
    const schema = Object.fromEntries(inputs.data.schema.fields.map((f) => [f.name, f.type]));
    return {
      train: tableFromRows(split.train, { schema }),
      test: tableFromRows(split.test, { schema }),
      preprocessor: preprocessor.toJSON(),
    };
  },
});
