import { json, report, reportHtml, step } from '@cairn/core';
import { assertValid, expectSchema, table, type ValidationReportData, validateTable } from '@cairn/tabular';
import { z } from 'zod';
import type { Penguin } from '../src/penguin';

const range = z.object({ min: z.number(), max: z.number() });
const fraction = z.number().min(0).max(1);

const config = z.object({
  /** Fewest rows a training set may have. */
  minRows: z.number().int().nonnegative(),
  species: z.array(z.string()).min(2),
  islands: z.array(z.string()).min(1),
  sexes: z.array(z.string()).min(1),
  /** Plausible range of each measurement; a value outside is a unit or entry error. */
  ranges: z.object({
    bill_length_mm: range,
    bill_depth_mm: range,
    flipper_length_mm: range,
    body_mass_g: range,
  }),
  /** Largest share of missing values per column (the label may never be missing). */
  maxMissing: z.object({ measurements: fraction, island: fraction, sex: fraction }),
});

/**
 * Data validation before anything is learned: types, plausible ranges,
 * allowed categories and a missing-value budget. Writes a report of every
 * column's statistics and fails the run (CAIRN_DATA_INVALID), naming the
 * columns, when the data breaks a rule.
 */
export const validate = step({
  name: 'validate',
  description: 'Check the data against the expected schema',
  config,
  inputs: { data: table<Penguin>() },
  outputs: { validation: json<ValidationReportData>(), report: report() },
  run({ config, inputs, log }) {
    const measurement = (name: keyof typeof config.ranges) => ({
      type: 'number' as const,
      ...config.ranges[name],
      maxMissing: config.maxMissing.measurements,
    });
    const result = validateTable(
      inputs.data,
      expectSchema({
        minRows: config.minRows,
        columns: {
          species: { type: 'string', allowed: config.species, maxMissing: 0 },
          island: { type: 'string', allowed: config.islands, maxMissing: config.maxMissing.island },
          bill_length_mm: measurement('bill_length_mm'),
          bill_depth_mm: measurement('bill_depth_mm'),
          flipper_length_mm: measurement('flipper_length_mm'),
          body_mass_g: measurement('body_mass_g'),
          sex: { type: 'string', allowed: config.sexes, maxMissing: config.maxMissing.sex },
        },
      }),
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
