/**
 * Model bundles unpacked under the state folder, `<stateDir>/deployments/bundles/<digest>/`.
 * A bundle is unpacked once and reused by every deployer on the folder, so
 * it is trusted only as far as it can be checked: at extraction (where the
 * storage stream is verified against the digest) a list of every file's
 * sha256 is written into the folder, and every later load compares the
 * folder with that list. A folder that differs (an edited `cairn-model.json`,
 * a file added or removed) is refused and unpacked again from storage.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type ModelBundle, type StorageDriver, sha256 } from '@cairn/core';
import { loadModelBundle, materializeArtifact } from '@cairn/runtime';
import { deploymentsDir } from './state';

/** Written into the bundle folder at extraction; not part of the bundle (loaders never see it). */
export const FILE_LIST = '.cairn-files.json';

interface FileList {
  /** The artifact digest the folder was unpacked from. */
  digest: string;
  /** Relative path (`/`-separated) → sha256 of the content. */
  files: Record<string, string>;
}

export const bundleDir = (stateDir: string, digest: string) =>
  join(deploymentsDir(stateDir), 'bundles', digest);

/** Every regular file under `dir` with its sha256, the file list itself excepted. */
async function digestFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path).split(sep).join('/');
    if (name === FILE_LIST) continue;
    files[name] = sha256(await readFile(path));
  }
  return files;
}

/**
 * Why the folder no longer matches what was unpacked from `digest`, or
 * `undefined` when every file is as it was written.
 */
export async function bundleProblem(dir: string, digest: string): Promise<string | undefined> {
  let list: FileList;
  try {
    list = JSON.parse(await readFile(join(dir, FILE_LIST), 'utf8')) as FileList;
  } catch {
    return `it has no readable ${FILE_LIST}`;
  }
  if (list?.digest !== digest || typeof list.files !== 'object' || list.files === null) {
    return `its ${FILE_LIST} is not the one written for ${digest}`;
  }
  const found = await digestFiles(dir);
  for (const [name, hash] of Object.entries(list.files)) {
    if (found[name] === undefined) return `${name} is missing`;
    if (found[name] !== hash) return `${name} was changed`;
  }
  const extra = Object.keys(found).find((name) => list.files[name] === undefined);
  return extra ? `${extra} was added` : undefined;
}

/** Unpack `digest` from storage into `partial` (verified) and write its file list there. */
async function unpackInto(storage: StorageDriver, digest: string, size: number, partial: string) {
  await materializeArtifact(storage, { digest, size }, 'tree', partial);
  const list: FileList = { digest, files: await digestFiles(partial) };
  await writeFile(join(partial, FILE_LIST), `${JSON.stringify(list)}\n`);
}

/**
 * The bundle of `digest`, from its folder under the state folder when that
 * still matches its file list, else unpacked again from storage.
 *
 * @param onRefused told why an existing folder was refused (before it is replaced)
 * @throws whatever storage or unpacking throws; the caller names the model version
 */
export async function openBundle(
  storage: StorageDriver,
  stateDir: string,
  digest: string,
  onRefused: (problem: string) => void = () => {},
): Promise<ModelBundle> {
  const dir = bundleDir(stateDir, digest);
  const problem = await bundleProblem(dir, digest).catch((error: NodeJS.ErrnoException) =>
    error.code === 'ENOENT' ? 'absent' : String(error),
  );
  if (problem === undefined) {
    const bundle = await loadModelBundle(dir).catch(() => undefined);
    if (bundle) return bundle;
  } else if (problem !== 'absent') {
    onRefused(problem);
  }
  const stat = await storage.stat(digest);
  if (!stat) throw new BundleMissing(digest, storage.name);
  // Unpack beside the final folder and rename, so a crash never leaves half a bundle under the digest.
  // The folder is not cleared first: another process on this state folder may be loading it right now.
  const partial = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await unpackInto(storage, digest, stat.size, partial);
    await rename(partial, dir).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      // Another deployer unpacked it first; only a folder that does not verify is replaced.
      if ((await bundleProblem(dir, digest).catch(() => 'unreadable')) === undefined) return;
      // Moved aside, then removed: a reader never sees a half-deleted folder under the digest.
      const aside = `${dir}.refused-${process.pid}-${randomBytes(4).toString('hex')}`;
      await rename(dir, aside).catch(() => undefined);
      await rename(partial, dir);
      await rm(aside, { recursive: true, force: true });
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return loadModelBundle(dir);
}

/** The bundle is in no storage this deployer can read. */
export class BundleMissing extends Error {
  constructor(
    readonly digest: string,
    readonly storageName: string,
  ) {
    super(`its bundle ${digest} is not in storage (${storageName})`);
  }
}
