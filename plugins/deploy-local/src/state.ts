/**
 * Endpoint state on disk: one JSON file per endpoint holding every revision,
 * replaced atomically so a crash leaves either the old file or the new one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
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
export const lockFile = (stateDir: string, endpoint: string) =>
  join(deploymentsDir(stateDir), `${endpoint}.lock`);

/**
 * Identifies one version of a state file without reading it. Every write is
 * a rename of a new file, so the inode changes with each write even when
 * size and mtime happen to repeat.
 */
const signatureOf = (info: { ino: number; size: number; mtimeMs: number }) =>
  `${info.ino}:${info.size}:${info.mtimeMs}`;

/** The signature of an endpoint's state file, `undefined` when there is none. */
export async function stateSignature(stateDir: string, endpoint: string): Promise<string | undefined> {
  try {
    return signatureOf(await stat(stateFile(stateDir, endpoint)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CairnError(
      ErrorCodes.DEPLOY_FAILED,
      `cannot read deployment state ${stateFile(stateDir, endpoint)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Write the endpoint's file: temp file, fsync, rename, then fsync the folder
 * so the rename survives a crash.
 * @returns the signature of the file written
 */
export async function writeEndpointFile(stateDir: string, file: EndpointFile): Promise<string> {
  const dir = deploymentsDir(stateDir);
  await mkdir(dir, { recursive: true });
  const target = stateFile(stateDir, file.endpoint);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let signature: string;
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
      await handle.sync();
      signature = signatureOf(await handle.stat());
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
  return signature;
}

export async function removeEndpointFile(stateDir: string, endpoint: string): Promise<void> {
  await rm(stateFile(stateDir, endpoint), { force: true });
}

/** Endpoint names that have a state file, sorted. */
export async function listEndpoints(stateDir: string): Promise<string[]> {
  const dir = deploymentsDir(stateDir);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot read deployment state folder ${dir}`, {
      cause: error,
    });
  });
  return names
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort();
}

/**
 * Read one endpoint's file with the signature of exactly what was read
 * (stat and read through one handle, so a rename in between cannot pair
 * new content with an old signature). `undefined` when there is none. A
 * file that does not parse or has the wrong shape is an error naming it:
 * serving a guess at the traffic split would be worse than not serving, and
 * nothing is rewritten.
 */
export async function readEndpointFile(
  stateDir: string,
  endpoint: string,
): Promise<{ file: EndpointFile; signature: string } | undefined> {
  const path = stateFile(stateDir, endpoint);
  let text: string;
  let signature: string;
  try {
    const handle = await open(path, 'r');
    try {
      signature = signatureOf(await handle.stat());
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CairnError(ErrorCodes.DEPLOY_FAILED, `cannot read deployment state ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, error instanceof SyntaxError ? `not valid JSON (${error.message})` : String(error));
  }
  const problem = fileProblem(parsed, endpoint);
  if (problem) throw corrupt(path, problem);
  return { file: parsed as EndpointFile, signature };
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
