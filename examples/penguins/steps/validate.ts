import { json, report, reportHtml, step } from '@cairn/core';
import {
  assertValid,
  type ColumnExpectation,
  expectSchema,
  table,
  type ValidationReportData,
  validateTable,
} from '@cairn/tabular';
import { z } from 'zod';
import type { Row } from '../src/row';

const bound = z.union([z.number(), z.string().max(64)]);
const column = z.strictObject({
  type: z.enum(['number', 'string', 'boolean', 'date']),
  /** Plausible range (numbers; dates as ISO strings); outside means a unit or entry error. */
  min: bound.optional(),
  max: bound.optional(),
  /** The only values allowed (categories). */
  allowed: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .min(1)
    .max(10_000)
    .optional(),
  /** Largest share of missing values, 0 to 1. */
  maxMissing: z.number().min(0).max(1).default(0),
});

const config = z.strictObject({
  /** Fewest rows a training set may have. */
  minRows: z.number().int().nonnegative().max(1e9),
  /** Every column the data must have, with its rules. */
  columns: z.record(z.string().min(1), column).refine((c) => Object.keys(c).length > 0, {
    message: 'name at least one column',
  }),
  /** Whether columns not listed are allowed. */
  allowExtraColumns: z.boolean().default(true),
});
export type ValidateConfig = z.infer<typeof config>;

/**
 * Data validation before anything is learned: every column of
 * conf/base/validate.yaml must be there with its type, its range, its
 * allowed categories and within its missing-value budget. Writes a report
 * of every column's statistics and fails the run (CAIRN_DATA_INVALID),
 * naming the columns, when the data breaks a rule.
 */
export const validate = step({
  name: 'validate',
  description: 'Check the data against the expected schema',
  config,
  inputs: { data: table<Row>() },
  outputs: { validation: json<ValidationReportData>(), report: report() },
  run({ config, inputs, log }) {
    // Rules left out of the YAML are not checked (undefined keys would read as "no value allowed").
    const columns: Record<string, ColumnExpectation> = Object.fromEntries(
      Object.entries(config.columns).map(([name, rules]) => [
        name,
        Object.fromEntries(Object.entries(rules).filter(([, v]) => v !== undefined)),
      ]),
    );
    const result = validateTable(
      inputs.data,
      expectSchema({ minRows: config.minRows, allowExtraColumns: config.allowExtraColumns, columns }),
    );
    if (!result.ok) log.error(result.toMarkdown());
    assertValid(result);
    log.info(`${result.rows} rows passed validation`);
    return {
      validation: result.toJSON(),
      report: reportHtml(result.toHtml(), { title: 'Data validation' }),
    };
  },
});
