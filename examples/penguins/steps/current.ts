import { json, step } from '@cairn/core';
import { type ColumnType, table, tableFromRows } from '@cairn/tabular';
import { z } from 'zod';
import type { Row } from '../src/row';

/** Where the monitoring pipeline's current data came from. */
export interface ServedSource {
  source: 'served' | 'file';
  /** Rows in the current data. */
  rows: number;
  /** Served rows found in the prediction log (used when at least `minRows`). */
  served: number;
  /** Columns of the training data the served rows do not carry (the label), left out of both sides. */
  leftOut: string[];
  reason: string;
}

/**
 * The current data for drift: the rows the model server actually answered
 * — its prediction log (`predictionLog` in the deployer options of
 * cairn.config.ts; `cairn serve` writes it to the project's storage) — when
 * at least `minRows` were logged since `sinceDays` days ago; otherwise the
 * live data file (`live`, conf/base/live.yaml). Served rows come without the
 * label the model predicts, so columns they lack are left out of the
 * reference too: the drift step compares what both sides have. It reads
 * live state, so it never comes from the cache.
 */
export const current = step({
  name: 'current',
  description: 'Take the rows the model server answered as the current data, else the live data file',
  config: z.object({
    endpoint: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
    minRows: z.number().int().positive(),
    sinceDays: z.number().positive().optional(),
  }),
  inputs: { reference: table<Row>(), live: table<Row>() },
  outputs: { reference: table<Row>(), current: table<Row>(), source: json<ServedSource>() },
  uses: ['deployer?'],
  cache: false,
  async run({ config, inputs, deployer, log }) {
    const since =
      config.sinceDays === undefined ? undefined : new Date(Date.now() - config.sinceDays * 86_400_000);
    const logged =
      deployer?.servedRows === undefined
        ? []
        : await deployer.servedRows(config.endpoint, since ? { since } : {});
    const rows = logged
      .map((entry) => entry.row)
      .filter((row): row is Row => typeof row === 'object' && row !== null && !Array.isArray(row));
    if (rows.length < config.minRows) {
      const reason = `${rows.length} served rows of ${config.endpoint} logged (fewer than minRows ${config.minRows}): the live data file is the current data`;
      log.info(reason);
      return {
        reference: inputs.reference,
        current: inputs.live,
        source: {
          source: 'file' as const,
          rows: inputs.live.numRows,
          served: rows.length,
          leftOut: [],
          reason,
        },
      };
    }
    const seen = new Set(rows.flatMap((row) => Object.keys(row)));
    const kept = inputs.reference.columnNames.filter((name) => seen.has(name));
    const leftOut = inputs.reference.columnNames.filter((name) => !seen.has(name));
    const schema: Record<string, ColumnType> = {};
    for (const name of kept) schema[name] = inputs.reference.columnType(name)!;
    const pick = (row: Row) => Object.fromEntries(kept.map((name) => [name, row[name] ?? null]));
    const reason = `${rows.length} served rows of ${config.endpoint} are the current data${leftOut.length ? ` (left out, not served: ${leftOut.join(', ')})` : ''}`;
    log.info(reason);
    return {
      reference: tableFromRows<Row>(inputs.reference.rows().map(pick), { schema }),
      current: tableFromRows<Row>(rows.map(pick), { schema }),
      source: { source: 'served' as const, rows: rows.length, served: rows.length, leftOut, reason },
    };
  },
});
