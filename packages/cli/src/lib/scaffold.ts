/**
 * Rendering a template folder into a file tree. Templates mirror the output
 * tree; `.eta` files are rendered (autoEscape off: we write code, not HTML),
 * other files are copied. A leading `_` in a file name becomes `.` (npm drops
 * `.gitignore` and `.npmrc` from published packages). A rendered file that is
 * empty is left out, which lets a template include a file only when asked.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usageError } from './errors';

/** The folder holding template folders: the repo's in development, the packaged copy when built. */
function templatesRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/lib/scaffold.ts in development; dist/<entry>.js when built (tsup bundles).
  const fromSource = basename(here) === 'lib' && basename(dirname(here)) === 'src';
  const packageRoot = fromSource ? resolve(here, '..', '..') : resolve(here, '..');
  const repo = resolve(packageRoot, '..', '..', 'templates');
  const packaged = join(packageRoot, 'templates');
  const order = fromSource ? [repo, packaged] : [packaged, repo];
  const found = order.find((dir) => existsSync(join(dir, 'project-tabular')));
  if (!found) throw new Error(`Cairn templates not found (looked in ${order.join(' and ')})`);
  return found;
}

export async function listTemplates(): Promise<string[]> {
  const root = templatesRoot();
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Short names `cairn new --template` also takes. */
export const TEMPLATE_ALIASES: Readonly<Record<string, string>> = {
  tabular: 'project-tabular',
  python: 'project-python',
};

/** The template folder's name for a name or a short name (`python` → `project-python`). */
export const templateName = (name: string): string => TEMPLATE_ALIASES[name] ?? name;

export async function templateDir(name: string): Promise<string> {
  const known = await listTemplates();
  if (!known.includes(name)) {
    throw usageError(`Unknown template "${name}"`, {
      code: 'CAIRN_SCAFFOLD_INVALID',
      hint: `Known templates: ${known.join(', ')} (short names: ${Object.keys(TEMPLATE_ALIASES).join(', ')})`,
    });
  }
  return join(templatesRoot(), name);
}

export interface PlannedFile {
  /** Path relative to the target folder, with `/` separators. */
  path: string;
  content: Buffer | string;
}

/** Render every file of a template with `data`; nothing is written. */
export async function renderTemplate(dir: string, data: Record<string, unknown>): Promise<PlannedFile[]> {
  const { Eta } = await import('eta');
  const eta = new Eta({ autoEscape: false, autoTrim: false, useWith: false, varName: 'it' });
  const files: PlannedFile[] = [];
  const walk = async (folder: string) => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
        continue;
      }
      const rel = relative(dir, full).split(sep);
      const out = rel.map((part) => part.replace(/^_/, '.')).join('/');
      if (entry.name.endsWith('.eta')) {
        const content = eta.renderString(await readFile(full, 'utf8'), data);
        if (content.trim() === '') continue;
        files.push({ path: out.slice(0, -'.eta'.length), content });
      } else {
        files.push({ path: out, content: await readFile(full) });
      }
    }
  };
  await walk(dir);
  return files;
}

/**
 * A project built around the team's data: its config files replace the
 * sample's, its data file replaces the sample data (data/*), everything else
 * stays as rendered.
 */
export function withDataset(
  files: PlannedFile[],
  config: Record<string, string>,
  dataPath: string,
  bytes: Buffer,
): PlannedFile[] {
  const kept = files.filter((f) => !(f.path in config) && !f.path.startsWith('data/'));
  return [
    ...kept,
    ...Object.entries(config).map(([path, content]) => ({ path, content })),
    { path: dataPath, content: bytes },
  ].sort((a, b) => a.path.localeCompare(b.path));
}

/** Files of `dir` that would make it "not empty" for the scaffolder (a `.git` folder alone is fine). */
export async function existingEntries(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((name) => name !== '.git' && name !== '.DS_Store');
}

/**
 * Write the files under `target`. They are written into a staging folder
 * next to it first and moved in at the end, so a failure leaves nothing
 * half-written.
 */
export async function writeFiles(target: string, files: PlannedFile[]): Promise<void> {
  const staging = `${target.replace(/[\\/]+$/, '')}.cairn-new-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    for (const file of files) {
      const path = join(staging, ...file.path.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.content);
    }
    await mkdir(target, { recursive: true });
    for (const file of files) {
      const to = join(target, ...file.path.split('/'));
      await mkdir(dirname(to), { recursive: true });
      await rename(join(staging, ...file.path.split('/')), to);
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The files as an indented tree, for `--dry-run` and the "creating" listing. */
export function formatTree(paths: string[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const path of [...paths].sort()) {
    const parts = path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const key = parts.slice(0, i + 1).join('/');
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(`${'  '.repeat(i + 1)}${parts[i]}${i < parts.length - 1 ? '/' : ''}`);
    }
  }
  return lines.join('\n');
}
