import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dropIncomplete, parseCsv } from './ingest';

describe('ingest', () => {
  it('parses numbers as numbers and keeps text as text', () => {
    const rows = parseCsv('species,mass\nAdelie,3750\nGentoo,\n');
    expect(rows).toEqual([
      { species: 'Adelie', mass: 3750 },
      { species: 'Gentoo', mass: '' },
    ]);
  });

  it('drops rows with a missing required value', () => {
    const rows = parseCsv('species,mass\nAdelie,3750\nGentoo,\n');
    expect(dropIncomplete(rows, ['mass'])).toEqual([{ species: 'Adelie', mass: 3750 }]);
  });

  it('reads the sample data set', () => {
    const rows = parseCsv(readFileSync('data/penguins.csv', 'utf8'));
    expect(rows.length).toBeGreaterThan(50);
    expect(new Set(rows.map((r) => r.species))).toEqual(new Set(['Adelie', 'Chinstrap', 'Gentoo']));
  });
});
