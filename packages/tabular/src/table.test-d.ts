/**
 * Compile-time checks, run by `tsc -p packages/tabular` (the typecheck
 * target): every `@ts-expect-error` below must stay an error, i.e. a table
 * handle must not wire into a model input, nor a table of one row type into
 * a table of another.
 */
import { type Handle, model, pipeline, step } from '@cairn/core';
import { expectTypeOf } from 'vitest';
import { table } from './artifact';
import { type Table, tableFromRows } from './table';

interface Penguin {
  species: string;
  bill: number | null;
}

const ingest = step({
  name: 'ingest',
  outputs: { data: table<{ a: number }>(), penguins: table<Penguin>() },
  run: () => ({ data: tableFromRows([{ a: 1 }]), penguins: tableFromRows<Penguin>([]) }),
});
const train = step({
  name: 'train',
  inputs: { data: table<{ a: number }>() },
  outputs: { model: model() },
  run: ({ inputs }) => {
    expectTypeOf(inputs.data).toEqualTypeOf<Table<{ a: number }>>();
    expectTypeOf(inputs.data.rows()).toEqualTypeOf<{ a: number }[]>();
    expectTypeOf(inputs.data.column('a')).toEqualTypeOf<Array<number | null>>();
    return { model: { manifest: { flavor: 'x', signature: { inputs: [], outputs: [] } }, files: {} } };
  },
});
const serve = step({
  name: 'serve',
  inputs: { model: model() },
  outputs: { data: table<{ a: number }>() },
  run: () => ({ data: tableFromRows([{ a: 2 }]) }),
});

pipeline('tabular-typed', () => {
  const { data, penguins } = ingest();
  expectTypeOf(data).toEqualTypeOf<Handle<Table<{ a: number }>, 'table'>>();
  const { model: m } = train({ data });
  serve({ model: m });

  // @ts-expect-error a model is not a table<{ a: number }>
  train({ data: m });
  // @ts-expect-error a table<{ a: number }> is not a model
  serve({ model: data });
  // @ts-expect-error a table<Penguin> is not a table<{ a: number }>
  train({ data: penguins });
});

// @ts-expect-error a table's column names are checked against its row type
tableFromRows([{ a: 1 }]).column('b');
