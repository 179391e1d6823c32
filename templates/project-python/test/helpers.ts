import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The project folder (its conf/, data/ and python/ are what the tests use). */
export const projectDir = dirname(dirname(fileURLToPath(import.meta.url)));

/** A step's config as conf/base/<step>.yaml gives it. */
export function baseConfig(step: string): any {
  return parse(readFileSync(`${projectDir}/conf/base/${step}.yaml`, 'utf8'));
}
