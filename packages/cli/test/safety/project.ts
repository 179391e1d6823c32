import { cp, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers';

const FIXTURE = fileURLToPath(new URL('./fixture', import.meta.url));
const REPO_MODULES = fileURLToPath(new URL('../../../../node_modules', import.meta.url));

/** A copy of the safety fixture project, resolving `@cairn/*` through this checkout's node_modules. */
export async function safetyProject(prefix: string): Promise<string> {
  const dir = join(await tempDir(prefix), 'safety');
  await cp(FIXTURE, dir, { recursive: true });
  await symlink(REPO_MODULES, join(dir, 'node_modules'), 'dir');
  await writeFile(join(dir, 'package.json'), '{ "name": "safety", "private": true, "type": "module" }\n');
  return dir;
}
