import { isAbsolute, resolve } from 'node:path';
import { step } from '@cairn/core';
import { describeTable, table, tableFromCsv } from '@cairn/tabular';
import { z } from 'zod';
import type { Penguin } from '../src/penguin';

const config = z.object({
  /** CSV file with a header row; relative paths are relative to the project. */
  path: z.string().min(1),
  /** Field texts that mean "no value". */
  missing: z.array(z.string()).default(['', 'NA']),
});

/**
 * Data gathering: read the CSV into a `table` (Apache Arrow), types detected
 * per column, missing markers as nulls. The sample file is part of the
 * step's fingerprint (`sources`), so editing it re-runs the pipeline; if you
 * point `path` at data that changes outside the repository, set
 * `cache: false` here.
 */
export const ingest = step({
  name: 'ingest',
  description: 'Read the CSV data set into a table',
  config,
  outputs: { data: table<Penguin>() },
  sources: ['data/penguins.csv'],
  run({ config, projectDir, log }) {
    const source = isAbsolute(config.path) ? config.path : resolve(projectDir, config.path);
    const data = tableFromCsv<Penguin>(source, { nullValues: config.missing });
    const { columns } = describeTable(data);
    log.info(`read ${data.numRows} rows from ${config.path}`, {
      columns: Object.fromEntries(columns.map((c) => [c.name, `${c.type}, ${c.nulls} missing`])),
    });
    return { data };
  },
});
