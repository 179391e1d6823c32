/**
 * Endpoint state on disk: one JSON file per endpoint holding every revision,
 * replaced atomically so a crash leaves either the old file or the new one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, type Deployment, ENDPOINT_NAME, ErrorCodes, isDigest } from '@cairn/core';

/** What `<stateDir>/deployments/<endpoint>.json` holds. */
export interface EndpointFile {
  format: 1;
  endpoint: string;
  /** Oldest first; stored without `url`, which depends on the port of the running server. */
  revisions: Deployment[];
}

export const deploymentsDir = (stateDir: string) => join(stateDir, 'deployments');
export const stateFile = (stateDir: string, endpoint: string) =>
  join(deploymentsDir(stateDir), `${endpoint}.json`);

/** Write the endpoint's file: temp file, fsync, rename, then fsync the folder so the rename survives a crash. */
export async function writeEndpointFile(stateDir: string, file: EndpointFile): Promise<void> {
  const dir = deploymentsDir(stateDir);
  await mkdir(dir, { recursive: true });
  const target = stateFile(stateDir, file.endpoint);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot write deployment state ${target}`, {
      cause: error,
    });
  }
  const folder = await open(dir, 'r').catch(() => undefined);
  if (folder) {
    await folder.sync().catch(() => undefined);
    await folder.close();
  }
}

export async function removeEndpointFile(stateDir: string, endpoint: string): Promise<void> {
  await rm(stateFile(stateDir, endpoint), { force: true });
}

/**
 * Read every endpoint file. A file that does not parse or has the wrong shape
 * stops `create` with an error naming it: serving a guess at the traffic split
 * would be worse than not starting, and nothing is rewritten.
 */
export async function readEndpointFiles(stateDir: string): Promise<EndpointFile[]> {
  const dir = deploymentsDir(stateDir);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot read deployment state folder ${dir}`, {
      cause: error,
    });
  });
  const files: EndpointFile[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json')) continue;
    const path = join(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw corrupt(path, error instanceof SyntaxError ? `not valid JSON (${error.message})` : String(error));
    }
    const problem = fileProblem(parsed, name.slice(0, -'.json'.length));
    if (problem) throw corrupt(path, problem);
    files.push(parsed as EndpointFile);
  }
  return files;
}

function corrupt(path: string, problem: string): CairnError {
  return new CairnError(ErrorCodes.DEPLOY_FAILED, `deployment state file ${path} is damaged: ${problem}`, {
    hint: 'restore the file from a backup, or delete it to forget the endpoint and deploy it again',
  });
}

const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function fileProblem(value: unknown, endpoint: string): string | undefined {
  if (!ENDPOINT_NAME.test(endpoint)) return `"${endpoint}" is not a valid endpoint name`;
  if (!isObject(value)) return 'expected an object';
  if (value.format !== 1) return `unknown format ${JSON.stringify(value.format)} (expected 1)`;
  if (value.endpoint !== endpoint)
    return `endpoint ${JSON.stringify(value.endpoint)} does not match the file name`;
  if (!Array.isArray(value.revisions) || value.revisions.length === 0)
    return 'revisions: expected a non-empty array';
  for (const [i, revision] of value.revisions.entries()) {
    const where = `revisions[${i}]`;
    if (!isObject(revision)) return `${where}: expected an object`;
    if (revision.endpoint !== endpoint) return `${where}.endpoint: expected "${endpoint}"`;
    if (revision.revision !== i + 1) return `${where}.revision: expected ${i + 1}`;
    if (typeof revision.updatedAt !== 'string') return `${where}.updatedAt: expected a string`;
    if (!['deploy', 'traffic', 'promote', 'rollback'].includes(revision.change)) {
      return `${where}.change: unknown change ${JSON.stringify(revision.change)}`;
    }
    if (!Array.isArray(revision.routes) || revision.routes.length === 0) {
      return `${where}.routes: expected a non-empty array`;
    }
    let live = 0;
    let primaries = 0;
    for (const [j, route] of revision.routes.entries()) {
      const at = `${where}.routes[${j}]`;
      if (!isObject(route) || !isObject(route.model)) return `${at}: expected { model, role, weight }`;
      const { model } = route;
      if (typeof model.model !== 'string' || model.model === '') return `${at}.model.model: expected a name`;
      if (!Number.isInteger(model.version) || model.version < 1)
        return `${at}.model.version: expected 1 or more`;
      if (!isDigest(model.digest)) return `${at}.model.digest: expected a sha256 digest`;
      if (!['primary', 'canary', 'shadow'].includes(route.role)) return `${at}.role: unknown role`;
      if (!Number.isInteger(route.weight) || route.weight < 0 || route.weight > 100) {
        return `${at}.weight: expected an integer from 0 to 100`;
      }
      if (route.role === 'primary') primaries++;
      if (route.role !== 'shadow') live += route.weight;
    }
    if (primaries !== 1) return `${where}.routes: expected exactly one primary`;
    if (live !== 100) return `${where}.routes: live weights sum to ${live}, not 100`;
  }
  return undefined;
}
