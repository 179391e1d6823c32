import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The real penguins data set shipped by vega-datasets (344 rows, some values missing). */
export const penguinsPath = join(
  dirname(dirname(createRequire(import.meta.url).resolve('vega-datasets'))),
  'data',
  'penguins.json',
);
