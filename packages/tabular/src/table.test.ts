import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError, sha256 } from '@cairn/core';
import {
  Field as ArrowField,
  Table as ArrowTable,
  Dictionary,
  Int32,
  Int64,
  List,
  TimestampSecond,
  tableFromArrays,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { penguinsPath } from '../test/fixtures';
import { describeTable, table } from './artifact';
import { tableFromJson } from './io';
import { Table, tableFromRows } from './table';

let workdir: string;
beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'cairn-tabular-'));
});
afterAll(async () => {
  await rm(workdir, { recursive: true, force: true });
});

/** Serialize through the artifact type, write the bytes where storage would, read them back. */
async function roundTrip<Row extends object>(value: Table<Row>, name = 'data') {
  const type = table<Row>();
  const ctx = { workdir, name };
  expect(type.check?.(value)).toBeUndefined();
  const serialized = await type.serialize(value, ctx);
  if (!('bytes' in serialized)) throw new Error('expected bytes');
  const path = join(workdir, `${name}-${sha256(serialized.bytes)}.arrow`);
  await writeFile(path, serialized.bytes);
  const back = await type.deserialize(
    { path, digest: sha256(serialized.bytes), size: serialized.bytes.length },
    ctx,
  );
  return { bytes: serialized.bytes, back };
}

interface Mixed {
  n: number | null;
  s: string | null;
  b: boolean | null;
  d: Date | null;
}

const mixed: Mixed[] = [
  { n: 1.5, s: 'a', b: true, d: new Date('2024-01-02T03:04:05.678Z') },
  { n: null, s: null, b: null, d: null },
  { n: -3, s: 'üñí "quoted", <tag>', b: false, d: new Date(0) },
];

describe('tableFromRows', () => {
  it('infers column types and keeps missing values as null', () => {
    const t = tableFromRows([
      { n: 1, s: 'x', b: true, d: new Date(5) },
      { n: Number.NaN, s: undefined, b: null, d: new Date(Number.NaN) },
      { n: 2 } as any,
    ]);
    expect(t.numRows).toBe(3);
    expect(t.schema.fields).toEqual([
      { name: 'n', type: 'number', nullable: true },
      { name: 's', type: 'string', nullable: true },
      { name: 'b', type: 'boolean', nullable: true },
      { name: 'd', type: 'date', nullable: true },
    ]);
    expect(t.column('n')).toEqual([1, null, 2]);
    expect(t.column('s')).toEqual(['x', null, null]);
    expect(t.column('d')).toEqual([new Date(5), null, null]);
    expect(t.rows()[2]).toEqual({ n: 2, s: null, b: null, d: null });
  });

  it('marks columns without missing values as not nullable', () => {
    const t = tableFromRows([{ a: 1 }, { a: 2 }]);
    expect(t.schema.fields[0]).toEqual({ name: 'a', type: 'number', nullable: false });
  });

  it('refuses a column that mixes types, naming the column and rows', () => {
    const err = (() => {
      try {
        tableFromRows([{ a: 1 }, { a: 'two' }]);
      } catch (e) {
        return e;
      }
    })();
    expect(CairnError.is(err)).toBe(true);
    expect((err as CairnError).code).toBe('CAIRN_ARTIFACT_TYPE_MISMATCH');
    expect((err as Error).message).toMatch(/column "a" mixes types: row 0 is a number, row 1 is a string/);
  });

  it('refuses nested objects', () => {
    expect(() => tableFromRows([{ a: { b: 1 } }])).toThrow(/column "a", row 0: a value of type object/);
  });

  it('takes types from options.schema, including all-missing and absent columns', () => {
    const t = tableFromRows([{ a: null }, { a: null }], { schema: { a: 'number', when: 'date' } });
    expect(t.schema.fields).toEqual([
      { name: 'a', type: 'number', nullable: true },
      { name: 'when', type: 'date', nullable: true },
    ]);
    expect(() => tableFromRows([{ a: 'x' }], { schema: { a: 'number' } })).toThrow(
      /column "a", row 0: "x" is not a number/,
    );
    expect(() => tableFromRows([], { schema: { a: 'float' as any } })).toThrow(/schema\.a/);
  });

  it('returns fresh rows: mutating them does not change the table', () => {
    const t = tableFromRows(mixed);
    const rows = t.rows();
    rows[0]!.n = 99;
    rows[0]!.d!.setTime(1);
    expect(t.rows()[0]).toEqual(mixed[0]);
  });

  it('throws a clear error for an unknown column', () => {
    const t = tableFromRows([{ a: 1 }]);
    expect(() => t.column('b' as any)).toThrow(/no column "b"; its columns are "a"/);
  });
});

describe('table() artifact type', () => {
  it('round-trips rows of every column type through serialize and deserialize', async () => {
    const original = tableFromRows(mixed);
    const { back } = await roundTrip(original);
    expect(back.rows()).toEqual(mixed);
    expect(back.schema).toEqual(original.schema);
  });

  it('writes an Arrow IPC file (magic ARROW1 at both ends) that apache-arrow reads', async () => {
    const { bytes } = await roundTrip(tableFromRows(mixed));
    const text = Buffer.from(bytes);
    expect(text.subarray(0, 6).toString()).toBe('ARROW1');
    expect(text.subarray(-6).toString()).toBe('ARROW1');
    expect(tableFromIPC(bytes).numRows).toBe(3);
  });

  it('is deterministic: same rows, same bytes and digest; a round trip does not change them', async () => {
    const a = await roundTrip(tableFromRows(mixed), 'a');
    const b = await roundTrip(tableFromRows(structuredClone(mixed)), 'b');
    expect(sha256(a.bytes)).toBe(sha256(b.bytes));
    const again = await roundTrip(a.back, 'again');
    expect(sha256(again.bytes)).toBe(sha256(a.bytes));
    const other = await roundTrip(tableFromRows([...mixed.slice(0, 2), { ...mixed[2]!, n: -4 }]), 'c');
    expect(sha256(other.bytes)).not.toBe(sha256(a.bytes));
  });

  it('describes rows and columns with their missing counts', () => {
    const t = tableFromRows(mixed);
    expect(table<Mixed>().describe?.(t)).toEqual({
      rows: 3,
      columns: [
        { name: 'n', type: 'number', nulls: 1 },
        { name: 's', type: 'string', nulls: 1 },
        { name: 'b', type: 'boolean', nulls: 1 },
        { name: 'd', type: 'date', nulls: 1 },
      ],
    });
    expect(describeTable(t).rows).toBe(3);
  });

  it('check refuses values that are not tables', () => {
    expect(table().check?.([{ a: 1 }])).toMatch(/expected a Table/);
    expect(table().check?.(tableFromRows([]))).toBeUndefined();
  });

  it('refuses bytes that are not an Arrow file, naming the artifact', async () => {
    const path = join(workdir, 'garbage.arrow');
    await writeFile(path, 'definitely not arrow');
    await expect(
      table().deserialize({ path, digest: sha256('x'), size: 20 }, { workdir, name: 'train' }),
    ).rejects.toThrow(/table "train"/);
  });

  it('handles 100k rows quickly and deterministically', async () => {
    const islands = ['Biscoe', 'Dream', 'Torgersen'];
    const rows = Array.from({ length: 100_000 }, (_, i) => ({
      id: i,
      island: islands[i % 3]!,
      mass: i % 97 === 0 ? null : 3000 + ((i * 7919) % 3000),
      male: i % 2 === 0,
    }));
    const t = tableFromRows(rows);
    const first = await roundTrip(t, 'big');
    const second = await roundTrip(tableFromRows(rows), 'big2');
    const back = first.back.rows();
    expect(back).toHaveLength(100_000);
    expect(back[99_999]).toEqual(rows[99_999]);
    expect(back[97]).toEqual(rows[97]);
    expect(first.back.column('mass').filter((v) => v === null)).toHaveLength(
      rows.filter((r) => r.mass === null).length,
    );
    expect(sha256(first.bytes)).toBe(sha256(second.bytes));
  });

  it('reads Arrow tables with other column types (ints, floats32) as numbers', async () => {
    const arrow = tableFromArrays({ i: new Int32Array([1, 2, 3]), f: new Float32Array([0.5, 1.5, 2.5]) });
    const path = join(workdir, 'foreign.arrow');
    await writeFile(path, tableToIPC(arrow, 'file'));
    const t = await table().deserialize({ path, digest: sha256('y'), size: 1 }, { workdir, name: 'foreign' });
    expect(t.schema.fields.map((f) => f.type)).toEqual(['number', 'number']);
    expect(t.rows()).toEqual([
      { i: 1, f: 0.5 },
      { i: 2, f: 1.5 },
      { i: 3, f: 2.5 },
    ]);
  });

  it('converts dictionary strings, timestamps and int64 from other writers, across record batches', () => {
    const batch = (offset: number) =>
      new ArrowTable({
        name: vectorFromArray(['a', null], new Dictionary(new Utf8(), new Int32())),
        at: vectorFromArray([new Date(offset * 1000), null], new TimestampSecond()),
        n: vectorFromArray([BigInt(offset), null], new Int64()),
      });
    const arrow = batch(1).concat(batch(2));
    expect(arrow.batches).toHaveLength(2);
    const t = Table.fromArrow(arrow);
    expect(t.schema.fields.map((f) => f.type)).toEqual(['string', 'date', 'number']);
    expect(t.rows()).toEqual([
      { name: 'a', at: new Date(1000), n: 1 },
      { name: null, at: null, n: null },
      { name: 'a', at: new Date(2000), n: 2 },
      { name: null, at: null, n: null },
    ]);
    expect(t.toArrow().batches).toHaveLength(1);
  });

  it('refuses Arrow column types a table cannot hold, naming the column', () => {
    const list = vectorFromArray([[1], [2]], new List(new ArrowField('item', new Int32())));
    expect(() => Table.fromArrow(new ArrowTable({ tags: list }))).toThrow(
      /column "tags" has Arrow type List/,
    );
  });

  it('loads the real penguins data with its missing values', async () => {
    const penguins = tableFromJson(penguinsPath);
    expect(penguins.numRows).toBe(344);
    const { back } = await roundTrip(penguins, 'penguins');
    expect(back.rows()).toEqual(JSON.parse(await readFile(penguinsPath, 'utf8')));
    expect(describeTable(back).columns.find((c) => c.name === 'Sex')).toEqual({
      name: 'Sex',
      type: 'string',
      nulls: 10,
    });
  });
});
