/**
 * The CLI's door to a project: `--project` and `--env` turned into the
 * runtime's `openProject`. Everything about finding the root, loading
 * cairn.config.ts, the embedded defaults and pipelines lives in
 * `@cairn/runtime`; this file only maps "no project here" to a usage error.
 * `@cairn/runtime` is imported lazily so that loading a command costs
 * nothing until it runs.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import type { OpenedProject } from '@cairn/runtime';
import { usageError } from './errors';

export type { OpenedProject };

interface ProjectFlags {
  project?: string | undefined;
  env?: string | undefined;
}

const NO_PROJECT_HINT =
  'Run the command inside a project (or any folder of one), pass --project <dir>, or create one with `cairn new <dir>`.';

/** The project root: `--project` itself, else the nearest folder at or above the current one with a cairn.config file. */
export async function requireProjectDir(flag: string | undefined): Promise<string> {
  const { findProjectRoot, PROJECT_CONFIG_FILES } = await import('@cairn/runtime');
  const from = resolve(flag ?? process.cwd());
  const root = await findProjectRoot(from);
  if (!root || (flag !== undefined && root !== from)) {
    throw usageError(
      `No Cairn project here: no ${PROJECT_CONFIG_FILES[0]} in ${from}${flag ? '' : ' or any folder above it'}`,
      { hint: NO_PROJECT_HINT },
    );
  }
  loadDotEnv(root);
  return root;
}

/**
 * The project's `.env` (git-ignored; `.env.example` lists what goes in it): every variable it
 * sets that the environment does not, so `${env:NAME}` in cairn.config.ts and conf/ finds it. The
 * environment wins over the file, as with `node --env-file`. A `.env` that exists but cannot be
 * read is an error naming it, not a silent fallback to missing variables.
 */
const dotEnvRead = new Set<string>();

function loadDotEnv(root: string): void {
  // Once per project and process: a command may find its project more than once.
  if (dotEnvRead.has(root)) return;
  dotEnvRead.add(root);
  const file = join(root, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw usageError(`Cannot read ${file}: ${(error as Error).message}`, {
      hint: 'Make .env a readable file of NAME=value lines, or remove it.',
    });
  }
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
}

/** Open the project `--project` names (or the one around the current folder) for `--env`. */
export async function openProjectFor(flags: ProjectFlags): Promise<OpenedProject> {
  const { openProject } = await import('@cairn/runtime');
  return openProject(await requireProjectDir(flags.project), { env: flags.env ?? 'local', exact: true });
}

/** Open the project, run `fn`, close the project's stores. */
export async function withProject<T>(
  flags: ProjectFlags,
  fn: (project: OpenedProject) => Promise<T>,
): Promise<T> {
  const project = await openProjectFor(flags);
  try {
    return await fn(project);
  } finally {
    await project.close();
  }
}
