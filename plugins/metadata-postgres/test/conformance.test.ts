import { testMetadata } from '@cairn/testkit';
import { inject } from 'vitest';
import { postgresMetadata } from '../src/index';

// A fresh schema per store keeps the cases apart in one database; the second handle shares the first's schema.
let n = 0;
const schema = () => `conformance_${process.pid}_${n++}`;
testMetadata({
  name: 'postgres',
  create: () => postgresMetadata({ url: inject('pgUrl'), schema: schema() }),
  createSecond: (first) =>
    postgresMetadata({ url: inject('pgUrl'), schema: (first.ref!.options as { schema: string }).schema }),
});
