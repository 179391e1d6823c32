/**
 * Compile-time checks (`tsc -p packages/tabular`): the drift step takes
 * tables of any row type, and nothing that is not a table.
 */
import { model, pipeline, step } from '@cairn/core';
import { table } from './artifact';
import { driftStep } from './drift';
import { tableFromRows } from './table';

interface Penguin {
  species: string;
  island: string | null;
  body_mass_g: number | null;
}

const ingest = step({
  name: 'ingest',
  outputs: { data: table<Penguin>(), model: model() },
  run: () => ({ data: tableFromRows<Penguin>([]), model: { flavor: 'x', files: {} } as never }),
});
const drift = driftStep();

export const monitoring = pipeline('monitoring', () => {
  const { data: reference, model: m } = ingest();
  const { data: current } = ingest({}, { as: 'live' });
  drift({ reference, current });
  // @ts-expect-error a model is not a table
  drift({ reference, current: m });
});
