/** Where the Cairn packages come from for a new project: a registry, or (`--link`) this monorepo. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CliPackage {
  root: string;
  version: string;
  dependencies: Record<string, string>;
}

export function cliPackage(): CliPackage {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pjson = JSON.parse(readFileSync(file, 'utf8'));
      if (pjson.name === '@cairn/cli')
        return { root: dir, version: pjson.version, dependencies: pjson.dependencies ?? {} };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@cairn/cli package.json not found');
    dir = parent;
  }
}

/** Workspace package name → { dir, version }, when the CLI runs inside the Cairn monorepo. */
export function monorepoPackages(): Map<string, { dir: string; version: string }> | undefined {
  const root = resolve(cliPackage().root, '..', '..');
  const rootPjson = join(root, 'package.json');
  if (!existsSync(rootPjson) || JSON.parse(readFileSync(rootPjson, 'utf8')).name !== 'cairn-monorepo')
    return undefined;
  const found = new Map<string, { dir: string; version: string }>();
  for (const group of ['packages', 'plugins']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const file = join(base, name, 'package.json');
      if (!existsSync(file)) continue;
      const pjson = JSON.parse(readFileSync(file, 'utf8'));
      found.set(pjson.name, { dir: join(base, name), version: pjson.version });
    }
  }
  return found;
}

/**
 * The dependency spec for a Cairn package: `file:<monorepo dir>` when
 * linking, else a caret range of the version this CLI was released with.
 */
export function cairnSpec(
  pkg: string,
  link: Map<string, { dir: string; version: string }> | undefined,
): string {
  if (link) {
    const entry = link.get(pkg);
    if (entry) return `file:${entry.dir}`;
  }
  const cli = cliPackage();
  const known = link?.get(pkg)?.version ?? cli.dependencies[pkg]?.replace(/^[\^~]/, '') ?? cli.version;
  return pkg === '@cairn/cli' ? `^${cli.version}` : `^${known}`;
}

/**
 * Versions of the third-party libraries the project template depends on
 * (the ML library of its train step, its schema and test libraries).
 */
export const TEMPLATE_LIBRARIES = {
  'ml-random-forest': '^2.1.0',
  // `npm run ci` type-checks the project: the compiler checks every wire of the pipeline.
  typescript: '^5.9.0',
  '@types/node': '^20.19.0',
  zod: '^4.1.0',
  vitest: '^4.1.0',
  yaml: '^2.9.1',
} as const;
