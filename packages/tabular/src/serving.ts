/**
 * Serving-side input checks: a model server receives rows from anyone, so a
 * row the model was not trained for (an unknown island, a string where a
 * number belongs) is refused naming the row and column — an HTTP 400 from a
 * model server — rather than predicted into plausible-looking garbage.
 */
import { CairnError, ErrorCodes, type ModelField } from '@cairn/core';
import { isMissing } from './table';

/**
 * Check raw rows against a model's input signature: categorical fields must
 * be one of their known values, the others finite numbers; missing values
 * pass (the preprocessing imputes them).
 * @throws CAIRN_DATA_INVALID naming the first offending row and column
 */
export function checkRowsAgainstSignature(rows: readonly unknown[], inputs: readonly ModelField[]): void {
  if (!Array.isArray(rows))
    throw new CairnError(ErrorCodes.DATA_INVALID, 'rows: expected an array of objects');
  rows.forEach((row, index) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new CairnError(ErrorCodes.DATA_INVALID, `row ${index}: expected an object of column values`);
    }
    const values = row as Record<string, unknown>;
    // Keys, but none of them an input: a client sending other column names. Imputing every input
    // would answer 200 with the prior, and monitoring would see no drift in columns never sent.
    // (A row with no keys, or only missing values, is missing data and passes.)
    const unknown = Object.keys(values).filter((key) => !inputs.some((field) => field.name === key));
    if (unknown.length > 0 && inputs.length > 0 && inputs.every((field) => isMissing(values[field.name]))) {
      const names = (list: readonly string[]) =>
        list.length > 8 ? `${list.slice(0, 8).join(', ')}, …` : list.join(', ');
      throw new CairnError(
        ErrorCodes.DATA_INVALID,
        `row ${index}: none of its columns (${names(unknown)}) is an input of the model (${names(inputs.map((field) => field.name))})`,
      );
    }
    for (const field of inputs) {
      const value = values[field.name];
      if (isMissing(value)) continue;
      const bad = (expected: string) => {
        throw new CairnError(
          ErrorCodes.DATA_INVALID,
          `row ${index}, column "${field.name}": ${JSON.stringify(value)} is not ${expected}`,
        );
      };
      if (field.type === 'category') {
        if (typeof value !== 'string' || (field.values && !field.values.includes(value)))
          bad(`one of ${(field.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`);
      } else if (typeof value !== 'number' || !Number.isFinite(value)) bad('a number');
    }
  });
}
