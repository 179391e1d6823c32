import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');

const require = createRequire(import.meta.url);
let loaded: Yaml | undefined;

/**
 * The YAML library, loaded on first use. Loading it takes 50–300 ms of a
 * process's start, and most config files (`key: value` lines) never need it
 * (see parseFlatLayer), so a run whose configs are all flat never pays.
 */
export function yaml(): Yaml {
  loaded ??= require('yaml') as Yaml;
  return loaded;
}
