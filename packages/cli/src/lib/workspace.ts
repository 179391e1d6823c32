/** Where the Cairn packages come from for a new project: a registry, or (`--link`) this monorepo. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CliPackage {
  root: string;
  version: string;
  dependencies: Record<string, string>;
}

function cliPackage(): CliPackage {
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

/** A scope as npm writes it: `@acme`. */
export const SCOPE = /^@[a-z0-9][a-z0-9._-]*$/;

/**
 * The `.npmrc` lines that send the Cairn packages (and a team's own scope)
 * to a registry: `@cairn:registry=<url>`, `@acme:registry=<url>`. Other
 * packages keep coming from npm's default registry.
 */
export function registryLines(registry: string | undefined, scope?: string): string[] {
  if (!registry) return [];
  const scopes = ['@cairn', ...(scope && scope !== '@cairn' ? [scope] : [])];
  return scopes.map((s) => `${s}:registry=${registry}`);
}

/** `@scope:registry=` lines of a `.npmrc` file: scope → URL. */
function scopeRegistries(npmrc: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of npmrc.split('\n')) {
    const match = /^\s*(@[^:\s]+):registry\s*=\s*(\S+)\s*$/.exec(line);
    if (match) found.set(match[1]!, match[2]!);
  }
  return found;
}

/**
 * When a scoped package was not found and the project's `.npmrc` names no
 * registry for its scope, the exact line that is missing (npm then asked its
 * default registry, which does not know a company's packages).
 */
export function scopeRegistryProblem(
  projectDir: string,
  pkg: string,
): { message: string; hint: string } | undefined {
  const scope = /^(@[^/]+)\//.exec(pkg)?.[1];
  if (!scope) return undefined;
  const file = join(projectDir, '.npmrc');
  const registries = scopeRegistries(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (registries.has(scope)) return undefined;
  // A team's registry usually serves its own scope and ours: suggest the URL it already uses for @cairn.
  const url = registries.get('@cairn') ?? '<your registry URL>';
  return {
    message: `${pkg} is not on npm's default registry, and .npmrc has no registry line for ${scope}: missing \`${scope}:registry=${url}\``,
    hint: `Add the line \`${scope}:registry=${url}\` to ${file}${url.startsWith('<') ? ' (with your registry URL)' : ''}, or pass --registry <url>.`,
  };
}

/**
 * Before `cairn new` writes anything: is `@cairn/core` (in the range the
 * project will ask for) on the registry npm is going to use? `undefined` when
 * it is; otherwise what is wrong and what to do.
 */
export async function cairnRegistryProblem(
  spec: string,
  registry: string | undefined,
  cwd: string,
): Promise<{ message: string; hint: string } | undefined> {
  const { runProcess, NPM } = await import('./proc');
  const args = [
    'view',
    `@cairn/core@${spec}`,
    'version',
    '--json',
    ...(registry ? ['--registry', registry] : []),
  ];
  const result = await runProcess(NPM, args, { cwd });
  if (result.code === 0 && result.stdout.trim() !== '') return undefined;
  const where =
    registry ??
    ((await runProcess(NPM, ['config', 'get', 'registry'], { cwd })).stdout.trim() || "npm's registry");
  const notFound =
    /E404|404 Not Found|is not in this registry|No match found/.test(result.stderr) || result.code === 0;
  return {
    message: notFound
      ? `@cairn/core@${spec} is not on the registry ${where}: the project's dependencies cannot be installed`
      : `Could not ask the registry ${where} for @cairn/core: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
    hint: 'Pass --registry <url> for the registry your Cairn packages are published to, or --link to depend on this Cairn checkout (or --no-install to write the files only). Nothing was written.',
  };
}

/**
 * A published package's `"cairn"` field, asked of the registry (`npm view`),
 * for `cairn new --plugins` before anything is installed; `undefined` when
 * the package or the field cannot be found.
 */
export async function publishedCairnField(
  pkg: string,
  spec: string,
  registry: string | undefined,
): Promise<unknown> {
  const { runProcess, NPM } = await import('./proc');
  const args = ['view', `${pkg}@${spec}`, 'cairn', '--json', ...(registry ? ['--registry', registry] : [])];
  const result = await runProcess(NPM, args, { cwd: process.cwd() });
  if (result.code !== 0 || result.stdout.trim() === '') return undefined;
  const value = JSON.parse(result.stdout);
  // Several matching versions come back as a list: the newest is last.
  return Array.isArray(value) ? value.at(-1) : value;
}
