import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localStore } from '../storage/local';
import { packTree } from '../tar';
import { materializeArtifact, readSmallBlob, SMALL_BLOB_BYTES, storeArtifact } from './io';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cairn-io-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function tree(): Promise<string> {
  const root = join(work, 'tree');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'a.txt'), 'a'.repeat(2000));
  await writeFile(join(root, 'sub', 'b.txt'), 'b');
  return root;
}

async function tarOf(dir: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of packTree(dir)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A memory store whose bytes the test can damage. */
function damageable() {
  const objects = new Map<string, Uint8Array>();
  const flip = (digest: string, at: number) => {
    const bytes = objects.get(digest) as Uint8Array;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  };
  return { storage: memoryStore({ objects }), flip };
}

describe('storeArtifact', () => {
  it('stores bytes, a file and a folder under the digest of their serialized bytes', async () => {
    const storage = memoryStore();
    const data = new TextEncoder().encode('{"a":1}');
    expect(await storeArtifact(storage, { bytes: data })).toEqual({
      digest: sha256(data),
      size: data.byteLength,
    });

    await writeFile(join(work, 'f.bin'), 'file bytes');
    expect(await storeArtifact(storage, { file: join(work, 'f.bin') })).toEqual({
      digest: sha256(Buffer.from('file bytes')),
      size: 10,
    });

    const root = await tree();
    const tar = await tarOf(root);
    expect(await storeArtifact(storage, { dir: root })).toEqual({ digest: sha256(tar), size: tar.length });
  });

  it('refuses a missing file or folder, naming it, and stores nothing', async () => {
    const storage = memoryStore();
    await expect(storeArtifact(storage, { file: join(work, 'gone.bin') })).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
      message: expect.stringContaining('gone.bin'),
    });
    await expect(storeArtifact(storage, { dir: join(work, 'gone') })).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
    });
    await expect(storeArtifact(storage, { file: work })).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
    });
    const listed = [];
    for await (const item of storage.list()) listed.push(item);
    expect(listed).toEqual([]);
  });

  it('honours an aborted signal', async () => {
    const storage = localStore(join(work, 'store'));
    const controller = new AbortController();
    controller.abort();
    await expect(
      storeArtifact(storage, { dir: await tree() }, { signal: controller.signal }),
    ).rejects.toThrow();
    expect(await readdir(join(work, 'store', 'objects')).catch(() => [])).toEqual([]);
  });
});

describe('materializeArtifact', () => {
  it('hands out the local store path for a blob after verifying it, and refuses it once damaged', async () => {
    const storage = localStore(join(work, 'store'));
    await writeFile(join(work, 'model.bin'), 'weights');
    const ref = await storeArtifact(storage, { file: join(work, 'model.bin') });
    const path = await materializeArtifact(storage, ref, 'blob', join(work, 'unused'));
    expect(path).toBe(await storage.localPath?.(ref.digest));
    expect(await readFile(path, 'utf8')).toBe('weights');

    await chmod(path, 0o644);
    await writeFile(path, 'WEIGHTS');
    const error = await materializeArtifact(storage, ref, 'blob', join(work, 'unused')).catch((e) => e);
    expect(error).toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    expect(error.message).toContain(ref.digest);
  });

  it('copies a blob with verification when the store has no local path', async () => {
    const { storage, flip } = damageable();
    const ref = await storeArtifact(storage, { bytes: new Uint8Array(300_000).fill(7) });
    const destination = join(work, 'inputs', 'blob.bin');
    expect(await materializeArtifact(storage, ref, 'blob', destination)).toBe(destination);
    expect((await readFile(destination)).equals(Buffer.alloc(300_000, 7))).toBe(true);

    flip(ref.digest, 299_999);
    const other = join(work, 'inputs', 'again.bin');
    const error = await materializeArtifact(storage, ref, 'blob', other).catch((e) => e);
    expect(error).toMatchObject({
      code: 'CAIRN_ARTIFACT_CORRUPT',
      message: expect.stringContaining(ref.digest),
    });
    expect((await readdir(join(work, 'inputs'))).sort()).toEqual(['blob.bin']);
  });

  it('unpacks a tree into the destination', async () => {
    const storage = memoryStore();
    const ref = await storeArtifact(storage, { dir: await tree() });
    const destination = join(work, 'unpacked');
    expect(await materializeArtifact(storage, ref, 'tree', destination)).toBe(destination);
    expect(await readFile(join(destination, 'sub', 'b.txt'), 'utf8')).toBe('b');
    expect(await readFile(join(destination, 'a.txt'), 'utf8')).toBe('a'.repeat(2000));
  });

  it.each([
    ['a content byte', 600],
    ['a header byte', 0],
  ])('removes what it unpacked and names the digest when %s is damaged', async (_what, at) => {
    const { storage, flip } = damageable();
    const ref = await storeArtifact(storage, { dir: await tree() });
    flip(ref.digest, at);
    const destination = join(work, 'unpacked');
    const error = await materializeArtifact(storage, ref, 'tree', destination).catch((e) => e);
    expect(error).toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    expect(error.message).toContain(ref.digest);
    expect(await readdir(work)).not.toContain('unpacked');
  });

  it('reports a missing artifact and refuses a bad digest or a non-empty destination', async () => {
    const storage = localStore(join(work, 'store'));
    const missing = { digest: sha256(new Uint8Array([1])), size: 1 };
    await expect(materializeArtifact(storage, missing, 'blob', join(work, 'x'))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_NOT_FOUND',
    });
    await expect(materializeArtifact(storage, missing, 'tree', join(work, 'y'))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_NOT_FOUND',
    });
    await expect(
      materializeArtifact(storage, { digest: '../../etc/passwd', size: 1 }, 'blob', join(work, 'z')),
    ).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });

    const ref = await storeArtifact(storage, { dir: await tree() });
    await mkdir(join(work, 'busy'));
    await writeFile(join(work, 'busy', 'keep.txt'), 'mine');
    await expect(materializeArtifact(storage, ref, 'tree', join(work, 'busy'))).rejects.toThrow(/not empty/);
    expect(await readFile(join(work, 'busy', 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('round-trips a 30 MB file inside a tree through the local store', async () => {
    const root = join(work, 'big');
    await mkdir(root);
    const handle = await open(join(root, 'big.bin'), 'w');
    await handle.truncate(30 * 1024 * 1024);
    await handle.close();
    const storage = localStore(join(work, 'store'));
    const ref = await storeArtifact(storage, { dir: root });
    const out = await materializeArtifact(storage, ref, 'tree', join(work, 'big-out'));
    expect((await readFile(join(out, 'big.bin'))).length).toBe(30 * 1024 * 1024);
  });
});

describe('readSmallBlob', () => {
  it('reads a small blob once from the local store, verified, and refuses it once damaged', async () => {
    const storage = localStore(join(work, 'store'));
    const ref = await storeArtifact(storage, { bytes: new TextEncoder().encode('{"a":1}') });
    const small = await readSmallBlob(storage, ref);
    expect(small?.path).toBe(await storage.localPath?.(ref.digest));
    expect(new TextDecoder().decode(small?.bytes)).toBe('{"a":1}');

    await chmod(small!.path, 0o644);
    await writeFile(small!.path, '{"a":2}');
    await expect(readSmallBlob(storage, ref)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    // Bytes appended after the ref's size, or some cut off: corrupt too (it reads past the size to tell).
    await writeFile(small!.path, '{"a":1}\n');
    await expect(readSmallBlob(storage, ref)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    await writeFile(small!.path, '{"a":1');
    await expect(readSmallBlob(storage, ref)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    // A folder where the object should be is not an object: left to materializeArtifact.
    await rm(small!.path);
    await mkdir(small!.path);
    expect(await readSmallBlob(storage, ref)).toBeUndefined();
  });

  it('leaves large blobs, stores without local paths and missing objects to materializeArtifact', async () => {
    const local = localStore(join(work, 'store'));
    const large = await storeArtifact(local, { bytes: new Uint8Array(SMALL_BLOB_BYTES + 1) });
    expect(await readSmallBlob(local, large)).toBeUndefined();
    const memory = memoryStore();
    const inMemory = await storeArtifact(memory, { bytes: new Uint8Array([1, 2, 3]) });
    expect(await readSmallBlob(memory, inMemory)).toBeUndefined();
    expect(await readSmallBlob(local, { digest: 'a'.repeat(64), size: 3 })).toBeUndefined();
  });
});
