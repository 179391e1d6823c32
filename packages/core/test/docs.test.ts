import { readFile } from 'node:fs/promises';
import { ErrorCodes } from '@cairn/core';
import { expect, it } from 'vitest';

it('docs/errors.md lists every error code, and no code that does not exist', async () => {
  const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(CAIRN_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  expect(documented.sort()).toEqual(Object.values(ErrorCodes).sort());
});
