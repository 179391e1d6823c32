import { cp, symlink, writeFile } from 'node:fs/promises';
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
