import type { ModelField } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { checkRowsAgainstSignature } from './serving';

const inputs: ModelField[] = [
  { name: 'bill_length_mm', type: 'float64' },
  { name: 'island', type: 'category', values: ['Biscoe', 'Dream'] },
];

describe('checkRowsAgainstSignature', () => {
  it('passes known categories, finite numbers and missing values', () => {
    expect(() =>
      checkRowsAgainstSignature(
        [{ bill_length_mm: 40.1, island: 'Dream' }, { bill_length_mm: null }, {}],
        inputs,
      ),
    ).not.toThrow();
  });

  it('refuses an unknown category, a string number and a non-object row, naming row and column', () => {
    const code = (rows: unknown[]) => {
      try {
        checkRowsAgainstSignature(rows, inputs);
        return undefined;
      } catch (error) {
        return `${(error as { code: string }).code}: ${(error as Error).message}`;
      }
    };
    expect(code([{}, { island: 'Mars' }])).toBe(
      'CAIRN_DATA_INVALID: row 1, column "island": "Mars" is not one of "Biscoe", "Dream"',
    );
    expect(code([{ bill_length_mm: '40' }])).toBe(
      'CAIRN_DATA_INVALID: row 0, column "bill_length_mm": "40" is not a number',
    );
    expect(code([{ bill_length_mm: Number.POSITIVE_INFINITY }])).toMatch(/is not a number/);
    expect(code([[1, 2]])).toBe('CAIRN_DATA_INVALID: row 0: expected an object of column values');
    // Other column names (a client's schema drifted): refused, not predicted from imputed values.
    expect(code([{ bill_length_mm: 40 }, { Island: 'Mars', BillLength: 3 }])).toBe(
      'CAIRN_DATA_INVALID: row 1: none of its columns (Island, BillLength) is an input of the model (bill_length_mm, island)',
    );
    // An extra column beside a known one passes (an id a client adds).
    expect(code([{ bill_length_mm: 40, request_id: 'a1' }])).toBeUndefined();
  });
});
