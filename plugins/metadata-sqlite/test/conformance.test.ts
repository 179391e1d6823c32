import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testMetadata } from '@cairn/testkit';
import { afterAll } from 'vitest';
import { sqliteMetadata } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'cairn-sqlite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
testMetadata({
  name: 'sqlite',
  create: () => sqliteMetadata({ file: join(root, `metadata-${++files}.db`) }),
  createSecond: (first) => sqliteMetadata(first.ref!.options as { file: string }),
});
