import { file, step } from '@cairn/core';
import { table, tableFromCsv } from '@cairn/tabular';

/**
 * The held-out rows of `train` (the CSV python/train.py writes, label
 * included) as a `table`, the artifact the load test replays. The load test
 * takes a table, not a file, and the Python steps write no Arrow (pyarrow
 * is not in requirements.txt), so this small TypeScript step reads the CSV:
 * column types are detected (the features stay numbers), empty fields are
 * missing values, which the model's imputers fill in as in training.
 */
export const holdout = step({
  name: 'holdout',
  description: 'Read the held-out rows into a table for the load test',
  inputs: { test: file() },
  outputs: { rows: table() },
  run: ({ inputs }) => ({ rows: tableFromCsv(inputs.test) }),
});
