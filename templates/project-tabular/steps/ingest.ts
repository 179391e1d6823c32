import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { json, step } from '@cairn/core';
import { z } from 'zod';

/** One record of the data set: numbers where the CSV cell is numeric. */
export type Row = Record<string, string | number>;

/** Parse a simple CSV (header row, comma-separated, no quoted commas). */
export function parseCsv(text: string): Row[] {
  const [header, ...lines] = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (!header) return [];
  const columns = header.split(',').map((c) => c.trim());
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Row = {};
    columns.forEach((column, i) => {
      const cell = (cells[i] ?? '').trim();
      row[column] = cell !== '' && Number.isFinite(Number(cell)) ? Number(cell) : cell;
    });
    return row;
  });
}

/** Keep the rows that have a value in every required column. */
export function dropIncomplete(rows: Row[], required: string[]): Row[] {
  return rows.filter((row) => required.every((column) => row[column] !== undefined && row[column] !== ''));
}

export const ingest = step({
  name: 'ingest',
  description: 'Read the CSV data set into rows',
  config: z.object({ path: z.string(), required: z.array(z.string()).default([]) }),
  outputs: { rows: json<Row[]>() },
  // The data file is part of the fingerprint: editing it invalidates the cache.
  sources: ['data/penguins.csv'],
  async run({ config, log }) {
    const all = parseCsv(await readFile(resolve(config.path), 'utf8'));
    const rows = dropIncomplete(all, config.required);
    log.info(`read ${all.length} rows, kept ${rows.length}`);
    return { rows };
  },
});
