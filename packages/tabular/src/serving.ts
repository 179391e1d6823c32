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
    for (const field of inputs) {
      const value = (row as Record<string, unknown>)[field.name];
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
