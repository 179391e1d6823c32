import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers';

const FIXTURE = fileURLToPath(new URL('./fixture', import.meta.url));
const REPO_MODULES = fileURLToPath(new URL('../../../../node_modules', import.meta.url));

/**
 * A copy of the fixture project in a temporary folder, resolving `@cairn/*`
 * through this checkout's node_modules (as a `cairn new --link` project does).
 */
export async function fixtureProject(prefix: string): Promise<string> {
  const dir = join(await tempDir(prefix), 'shop');
  await cp(FIXTURE, dir, { recursive: true });
  await symlink(REPO_MODULES, join(dir, 'node_modules'), 'dir');
  await writeFile(join(dir, 'package.json'), '{ "name": "shop", "private": true, "type": "module" }\n');
  return dir;
}

/** Node names no engine takes as they are (given with `as`, which takes any name). */
export const LONG = 'train_the_gradient_boosted_model_on_every_region_of_the_warehouse_';
export const AWKWARD_NAMES = [
  'load.data',
  '9lives',
  'has space',
  `${LONG}a`,
  `${LONG}b`,
  '___',
  `${LONG}${LONG}c`,
];

/** Write pipelines/<name>.ts: a source node and one node reading it per further name. */
export async function writeNamesPipeline(dir: string, name: string, nodes: string[]): Promise<void> {
  const [first, ...rest] = nodes.map((node) => JSON.stringify(node));
  const source = `
import { json, pipeline, step } from '@cairn/core';

const source = step({ name: 'source', outputs: { v: json<number>() }, run: () => ({ v: 1 }) });
const use = step({
  name: 'use',
  inputs: { v: json<number>() },
  outputs: { v: json<number>() },
  run: ({ inputs }) => ({ v: inputs.v }),
});

export default pipeline(${JSON.stringify(name)}, () => {
  const { v } = source(undefined, { as: ${first} });
${rest.map((node) => `  use({ v }, { as: ${node} });`).join('\n')}
});
`;
  await mkdir(join(dir, 'pipelines'), { recursive: true });
  await writeFile(join(dir, 'pipelines', `${name}.ts`), source);
}
