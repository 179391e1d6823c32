import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { step } from '@cairn/core';
import { describeTable, table, tableFromJson, tableFromRows } from '@cairn/tabular';
import { z } from 'zod';
import { type Penguin, SOURCE_COLUMNS } from '../src/penguin';

/** The real Palmer penguins data shipped by vega-datasets (344 rows). */
// The package exports only its JS entry (build/index.js), so find the data folder beside it.
export const defaultSource = join(
  dirname(dirname(createRequire(import.meta.url).resolve('vega-datasets'))),
  'data',
  'penguins.json',
);

const config = z.object({
  /** JSON array of records; relative paths are relative to the project. Default: vega-datasets' penguins.json. */
  path: z.string().min(1).optional(),
  /** Source column → pipeline column. Columns the source lacks are left out, for validate to report. */
  columns: z.record(z.string(), z.string()).default(SOURCE_COLUMNS),
  /** Source strings that mean "no value" (the penguins data writes one unknown sex as "."). */
  missing: z.array(z.string()).default(['', '.', 'NA']),
});

/**
 * Data gathering: read the source records into a `table`, renaming columns
 * and turning the source's missing-value markers into nulls. The source file
 * is not part of the cache key, so this step always runs; its output digest
 * is the same whenever the data is, so everything downstream still caches.
 */
export const ingest = step({
  name: 'ingest',
  description: 'Read the penguins records into a table',
  config,
  outputs: { data: table<Penguin>() },
  cache: false,
  run({ config, log, projectDir }) {
    const source =
      config.path === undefined
        ? defaultSource
        : isAbsolute(config.path)
          ? config.path
          : resolve(projectDir, config.path);
    const raw = tableFromJson<Record<string, unknown>>(source);
    const missing = new Set(config.missing);
    const rows = raw.rows().map((record) => {
      const row: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(record)) {
        row[config.columns[name] ?? name] = typeof value === 'string' && missing.has(value) ? null : value;
      }
      return row;
    });
    const data = tableFromRows(rows as unknown as Penguin[]);
    const { columns } = describeTable(data);
    log.info(`read ${data.numRows} rows from ${source}`, {
      columns: Object.fromEntries(columns.map((c) => [c.name, `${c.type}, ${c.nulls} missing`])),
    });
    return { data };
  },
});
