#!/usr/bin/env node
/**
 * Reads the output of `npm test` (nx running vitest in every project) and
 * prints one closing line over all projects: `vitest: N passed, N failed`
 * (with `, N skipped` when any were). Used by .ci/run.
 */
import { readFileSync } from 'node:fs';
import { stripVTControlCharacters } from 'node:util';

const text = stripVTControlCharacters(readFileSync(process.argv[2] ?? 0, 'utf8'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let projects = 0;
for (const line of text.split('\n')) {
  // vitest: "      Tests  1 failed | 52 passed | 2 skipped (55)"
  const match = /^\S*\s*Tests\s+(.+)\(\d+\)\s*$/.exec(line.trim().replace(/^[^:]*:\s*/, ''));
  if (!match) continue;
  projects++;
  for (const part of match[1].split('|')) {
    const count = /(\d+)\s+(passed|failed|skipped|todo)/.exec(part);
    if (!count) continue;
    const kind = count[2] === 'todo' ? 'skipped' : count[2];
    totals[kind] += Number(count[1]);
  }
}
if (projects === 0) {
  console.log('vitest: 0 passed, 0 failed');
  process.exit(0);
}
console.log(
  `vitest: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`,
);
