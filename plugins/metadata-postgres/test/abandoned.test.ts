import { fileURLToPath } from 'node:url';
import type { MetadataStore } from '@cairn/core';
import { afterEach, describe, inject } from 'vitest';
// The same cases as metadata-sqlite: shared with it from the runtime's test fixtures.
import { abandonedRunCases } from '../../../packages/runtime/test/fixtures/abandoned';
import { postgresMetadata } from '../src/index';

const stores: MetadataStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close?.();
});
let n = 0;
// The child re-creates the store from its ref, which never carries a password: the URL goes by reference.
process.env.CAIRN_ABANDONED_PG_URL = inject('pgUrl');
const url = `\${env:CAIRN_ABANDONED_PG_URL}`;

describe('abandoned runs, judged by their lease (a real PostgreSQL, two processes)', () => {
  abandonedRunCases(
    async () => {
      const store = postgresMetadata({ url, schema: `abandoned_${process.pid}_${n++}` });
      stores.push(store);
      await store.init?.();
      return store;
    },
    fileURLToPath(new URL('..', import.meta.url)),
  );
});
