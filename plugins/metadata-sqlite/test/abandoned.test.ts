import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetadataStore } from '@cairn/core';
import { afterAll, afterEach, describe } from 'vitest';
// The same cases as metadata-postgres: shared with it from the runtime's test fixtures.
import { abandonedRunCases } from '../../../packages/runtime/test/fixtures/abandoned';
import { sqliteMetadata } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'cairn-sqlite-abandoned-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const stores: MetadataStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close?.();
});
let n = 0;

describe('abandoned runs, judged by their lease (SQLite, two processes)', () => {
  abandonedRunCases(
    async () => {
      const store = sqliteMetadata({ file: join(root, `metadata-${n++}.db`) });
      stores.push(store);
      await store.init?.();
      return store;
    },
    fileURLToPath(new URL('..', import.meta.url)),
  );
});
