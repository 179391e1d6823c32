import { createHook } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rm,
  stat,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fileSource } from './file-source';
import { deferredSyncOf, localStore } from './local';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-local-'));
});
afterEach(async () => {
  // A test that made a new store with a deferred put and no sync may leave its prefix folders
  // still being made: rm retries the folder that filled up behind it (ENOTEMPTY).
  await rm(dir, { recursive: true, force: true, maxRetries: 10 });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const text = (value: string) => new TextEncoder().encode(value);

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push(relative(root, path));
    }
  };
  await walk(root);
  return out.sort();
}

describe('localStore options', () => {
  it.each([
    ['an empty path', ''],
    ['no dir', {}],
    ['a non-string dir', { dir: 3 }],
    ['an unknown option', { dir: 'x', bucket: 'y' }],
    ['null', null],
  ])('refuses %s, naming the plugin and the option', (_what, options) => {
    expect(() => localStore(options as never)).toThrow(
      expect.objectContaining({
        code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
        message: expect.stringMatching(/localStore/),
      }),
    );
  });

  it('resolves the folder once, creates nothing until the first write, and can be re-created from its ref', async () => {
    const store = localStore({ dir: join(dir, 'store') });
    expect(store.ref).toEqual({
      module: '@cairn/runtime',
      export: 'localStore',
      options: { dir: join(dir, 'store') },
    });
    expect(localStore('relative/folder').ref?.options).toEqual({
      dir: join(process.cwd(), 'relative/folder'),
    });
    expect(store.capabilities).toEqual({ localPath: true, persistent: true, shared: false });
    await expect(stat(join(dir, 'store'))).rejects.toThrow();
  });
});

describe('localStore', () => {
  it('writes read-only objects at objects/<2 hex>/<62 hex> and leaves no temp file', async () => {
    const store = localStore(dir);
    const bytes = text('hello cairn');
    const { digest } = await store.put(bytes);
    expect(await filesUnder(dir)).toEqual([join('objects', digest.slice(0, 2), digest.slice(2))]);
    const path = await store.localPath?.(digest);
    expect(path).toBe(join(dir, 'objects', digest.slice(0, 2), digest.slice(2)));
    expect((await stat(path as string)).mode & 0o777).toBe(0o444);
  });

  it('skips reading the source when the expected object already exists and verifies', async () => {
    const store = localStore(dir);
    const bytes = text('already here');
    await store.put(bytes);
    let pulled = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      pulled = true;
      yield bytes;
    }
    expect(await store.put(source(), { expectedDigest: sha256(bytes) })).toEqual({
      digest: sha256(bytes),
      size: bytes.byteLength,
    });
    expect(pulled).toBe(false);
  });

  it('leaves nothing behind, not even a temp file, when a write is aborted half way', async () => {
    const store = localStore(dir);
    const controller = new AbortController();
    async function* source(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1024 * 1024).fill(1);
      controller.abort();
      yield new Uint8Array(1024 * 1024).fill(2);
    }
    await expect(store.put(source(), { signal: controller.signal })).rejects.toThrow();
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('leaves nothing behind when the source fails', async () => {
    const store = localStore(dir);
    async function* source(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(4096);
      throw new Error('network down');
    }
    await expect(store.put(source())).rejects.toThrow('network down');
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('cleans stale temp files from dead writers but not fresh ones', async () => {
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'dead.tmp'), 'half a write');
    const old = Date.now() / 1000 - 3 * 3600;
    await utimes(join(dir, 'tmp', 'dead.tmp'), old, old);
    await writeFile(join(dir, 'tmp', 'busy.tmp'), 'a write in progress');
    const store = localStore(dir);
    expect([...(await readdir(join(dir, 'tmp')))].sort()).toEqual(['busy.tmp', 'dead.tmp']);
    await store.put(text('trigger'));
    expect(await readdir(join(dir, 'tmp'))).toEqual(['busy.tmp']);
    const listed = [];
    for await (const item of store.list()) listed.push(item.digest);
    expect(listed).toEqual([sha256(text('trigger'))]);
  });

  it('detects one flipped byte in get and verify, and a put repairs it', async () => {
    const store = localStore(dir);
    const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
    const { digest } = await store.put(bytes);
    const path = (await store.localPath?.(digest)) as string;
    await chmod(path, 0o644);
    const handle = await open(path, 'r+');
    await handle.write(new Uint8Array([bytes[5_000]! ^ 1]), 0, 1, 5_000);
    await handle.close();

    expect(await store.verify(digest)).toBe('corrupt');
    const error = await readAll(await store.get(digest)).catch((e) => e);
    expect(error).toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    expect(error.message).toContain(digest);

    await store.put(bytes, { expectedDigest: digest });
    expect(await store.verify(digest)).toBe('ok');
    expect((await readAll(await store.get(digest))).equals(Buffer.from(bytes))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
  });

  it('refuses digests that would build a path outside the store', async () => {
    const store = localStore(dir);
    for (const bad of [
      '../../etc/passwd',
      `../${'0'.repeat(61)}`,
      `${'0'.repeat(2)}/../../${'0'.repeat(56)}`,
    ]) {
      await expect(store.get(bad)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
      await expect(store.stat(bad)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
      await expect(store.verify(bad)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
      await expect(store.delete(bad)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
      await expect(store.localPath?.(bad)).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
      await expect(store.put(text('x'), { expectedDigest: bad })).rejects.toMatchObject({
        code: 'CAIRN_ARTIFACT_KEY_INVALID',
      });
    }
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('ignores stray files in the objects folder when listing', async () => {
    const store = localStore(dir);
    const { digest } = await store.put(text('real'));
    await writeFile(join(dir, 'objects', 'notes.txt'), 'x');
    await writeFile(join(dir, 'objects', digest.slice(0, 2), 'short'), 'x');
    const listed = [];
    for await (const item of store.list()) listed.push(item);
    expect(listed).toEqual([{ digest, size: 4 }]);
  });
});

describe('localStore put and verify of large and file sources', () => {
  // Not a multiple of the 1 MiB piece, so the last piece is short and the buffers take turns.
  const patterned = (size: number, salt = 0) => {
    const bytes = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4)
      bytes.writeUInt32LE((i * 2654435761 + salt) >>> 0, Math.min(i, size - 4));
    return bytes;
  };
  const fileHandlePrototype = async () => {
    const handle = await open(join(dir, 'probe'), 'w');
    await handle.close();
    return Object.getPrototypeOf(handle) as {
      write: (...args: unknown[]) => Promise<{ bytesWritten: number; buffer: unknown }>;
      datasync: () => Promise<void>;
    };
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('stores a file source as the file holds it, at sizes around its piece edges, and reads it like any source', async () => {
    const store = localStore(join(dir, 'store'));
    const path = join(dir, 'payload.bin');
    for (const size of [
      0,
      1,
      64 * 1024,
      1024 * 1024 - 1,
      1024 * 1024,
      1024 * 1024 + 1,
      3 * 1024 * 1024 + 12_345,
    ]) {
      const bytes = size < 4 ? Buffer.from('abc').subarray(0, size) : patterned(size, size);
      await writeFile(path, bytes);
      const stored = await store.put(fileSource(path));
      expect(stored, `${size} bytes`).toEqual({ digest: sha256(bytes), size });
      expect((await readAll(await store.get(stored.digest))).equals(bytes), `${size} bytes`).toBe(true);
      expect(await store.verify(stored.digest), `${size} bytes`).toBe('ok');
      // Another store reads it as chunks, and gets the same bytes.
      expect((await readAll(fileSource(path))).equals(bytes), `${size} bytes`).toBe(true);
    }
    // A plain file stream is a source like any other.
    const bytes = patterned(2 * 1024 * 1024 + 3);
    await writeFile(path, bytes);
    const started = createReadStream(path, { highWaterMark: 1024 });
    const head: Buffer = await new Promise((resolve) =>
      started.once('readable', () => resolve(started.read(10))),
    );
    expect(head.equals(bytes.subarray(0, 10))).toBe(true);
    expect(await store.put(started)).toEqual({ digest: sha256(bytes.subarray(10)), size: bytes.length - 10 });
    expect(await filesUnder(join(dir, 'store', 'tmp'))).toEqual([]);
  });

  it('fails with the open error of a file source and leaves nothing behind', async () => {
    const store = localStore(join(dir, 'store'));
    await expect(store.put(fileSource(join(dir, 'missing.bin')))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await filesUnder(join(dir, 'store'))).toEqual([]);
  });

  it('stops a file-source put when aborted and leaves nothing behind', async () => {
    const path = join(dir, 'payload.bin');
    await writeFile(path, patterned(4 * 1024 * 1024));
    const store = localStore(join(dir, 'store'));
    const controller = new AbortController();
    const prototype = await fileHandlePrototype();
    const write = prototype.write;
    vi.spyOn(prototype, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      controller.abort(new Error('stop'));
      return write.apply(this, args);
    });
    await expect(store.put(fileSource(path), { signal: controller.signal })).rejects.toThrow('stop');
    expect(await filesUnder(join(dir, 'store'))).toEqual([]);
  });

  it('finishes short writes, so a stored object is complete', async () => {
    const prototype = await fileHandlePrototype();
    const write = prototype.write;
    let short = 0;
    // The file system takes at most 100,000 bytes per call, as a full disk or a huge write can.
    vi.spyOn(prototype, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      const [buffer, offset, length, position] = args as [Uint8Array, number, number, number];
      if (typeof length === 'number' && length > 100_000) {
        short++;
        return write.call(this, buffer, offset, 100_000, position);
      }
      return write.apply(this, args);
    });
    const store = localStore(join(dir, 'store'));
    const bytes = patterned(2 * 1024 * 1024 + 5);
    const path = join(dir, 'payload.bin');
    await writeFile(path, bytes);
    for (const source of [
      bytes,
      fileSource(path),
      Readable.from([bytes.subarray(0, 300_000), bytes.subarray(300_000)]),
    ]) {
      const { digest, size } = await store.put(source);
      expect({ digest, size }).toEqual({ digest: sha256(bytes), size: bytes.length });
      expect(await store.verify(digest)).toBe('ok');
      await store.delete(digest);
    }
    expect(short).toBeGreaterThan(0);
  });

  it('starts writeback while a large durable put runs, not in a deferred one, and fails the put if it fails', async () => {
    const prototype = await fileHandlePrototype();
    const datasync = prototype.datasync;
    const spy = vi.spyOn(prototype, 'datasync');
    const bytes = patterned(80 * 1024 * 1024);
    const store = localStore(join(dir, 'store'));
    const { digest } = await store.put(bytes);
    expect(spy.mock.calls.length).toBeGreaterThan(0);
    expect(await store.verify(digest)).toBe('ok');
    await store.delete(digest);

    spy.mockClear();
    const deferred = deferredSyncOf(store);
    await deferred?.storage.put(bytes);
    expect(spy).not.toHaveBeenCalled();
    await deferred?.sync();
    await store.delete(digest);

    // An early fdatasync that fails: the closing fsync would not report it again, so the put must.
    spy.mockImplementation(function (this: unknown) {
      return datasync.call(this).then(() => {
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      });
    });
    await expect(store.put(bytes)).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FAILED' });
    expect(await filesUnder(join(dir, 'store', 'objects'))).toEqual([]);
    expect(await filesUnder(join(dir, 'store', 'tmp'))).toEqual([]);
  });

  it('verify finds one changed byte anywhere in a large object, at piece edges too, and a byte more or less', async () => {
    const bytes = patterned(2 * 1024 * 1024 + 100);
    const store = localStore(join(dir, 'store'));
    const { digest } = await store.put(bytes);
    const path = (await store.localPath?.(digest)) as string;
    await chmod(path, 0o644);
    for (const at of [0, 1024 * 1024 - 1, 1024 * 1024, 2 * 1024 * 1024, bytes.length - 1]) {
      const handle = await open(path, 'r+');
      await handle.write(new Uint8Array([bytes[at]! ^ 0x40]), 0, 1, at);
      expect(await store.verify(digest), `byte ${at}`).toBe('corrupt');
      await handle.write(new Uint8Array([bytes[at]!]), 0, 1, at);
      expect(await store.verify(digest), `byte ${at} restored`).toBe('ok');
      await handle.close();
    }
    await truncate(path, bytes.length - 1);
    expect(await store.verify(digest)).toBe('corrupt');
    await writeFile(path, Buffer.concat([bytes, Buffer.from([0])]));
    expect(await store.verify(digest)).toBe('corrupt');
  });
});

describe("deferred puts of small buffers (a step's json outputs)", () => {
  const handlePrototype = async () => {
    const handle = await open(join(dir, 'probe'), 'w');
    await handle.close();
    return Object.getPrototypeOf(handle) as {
      write: (...args: unknown[]) => Promise<unknown>;
      sync: () => Promise<void>;
    };
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes them without a file handle, read-only, and syncs each file and folder without one either', async () => {
    const prototype = await handlePrototype();
    const write = vi.spyOn(prototype, 'write');
    const sync = vi.spyOn(prototype, 'sync');
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    const inputs = Array.from({ length: 40 }, (_, i) => text(`{"v":${i}}`));
    // At once, as concurrent steps do: every temp file needs a name of its own.
    const stored = await Promise.all(inputs.map((bytes) => deferred.storage.put(bytes)));
    expect(stored).toEqual(inputs.map((bytes) => ({ digest: sha256(bytes), size: bytes.length })));
    for (const { digest } of stored) {
      expect(await store.verify(digest)).toBe('ok');
      const path = (await store.localPath!(digest))!;
      expect((await stat(path)).mode & 0o777).toBe(0o444);
    }
    expect(await filesUnder(join(dir, 'store', 'tmp'))).toEqual([]);
    await deferred.sync();
    expect(write).not.toHaveBeenCalled();
    expect(sync).not.toHaveBeenCalled();
  });

  it('goes back to the event loop before it resolves, so I/O callbacks and timers are not starved', async () => {
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    // The same bytes again: their folder is made, so the second put has no I/O of its own to wait for.
    await deferred.storage.put(text('{"v":"warm"}'));
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    await deferred.storage.put(text('{"v":"warm"}'));
    expect(turned).toBe(true);
  });

  it('makes the temp and object folders again when they were removed behind its back', async () => {
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    const first = await deferred.storage.put(text('{"v":"first"}'));
    await deferred.sync();
    await rm(join(dir, 'store', 'tmp'), { recursive: true });
    await rm(join(dir, 'store', 'objects'), { recursive: true });
    const again = await deferred.storage.put(text('{"v":"first"}'));
    expect(again).toEqual(first);
    expect(await store.verify(first.digest)).toBe('ok');
    await deferred.sync([first.digest]);
  });

  it("makes a new store's 256 prefix folders in the background on its first put, and leaves an existing store's alone", async () => {
    const prefixes = (store: string) =>
      readdir(join(dir, store, 'objects')).then((names) => names.filter((n) => /^[0-9a-f]{2}$/.test(n)));
    const fresh = deferredSyncOf(localStore(join(dir, 'fresh')))!;
    const { digest } = await fresh.storage.put(text('{"v":"first"}'));
    const all = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    // A deferred put does not wait for them; a sync does, so a finished run leaves no mkdir under way.
    await fresh.sync();
    expect((await prefixes('fresh')).sort()).toEqual(all);
    expect(await fresh.storage.verify(digest)).toBe('ok');
    // So does a durable put, a run's first (its config bundle).
    const durable = localStore(join(dir, 'durable'));
    await durable.put(text('{"v":"bundle"}'));
    expect((await prefixes('durable')).sort()).toEqual(all);
    // A store whose objects folder exists (an earlier run's) gets no folder it did not need.
    await mkdir(join(dir, 'old', 'objects', 'ab'), { recursive: true });
    const old = deferredSyncOf(localStore(join(dir, 'old')))!;
    const put = await old.storage.put(text('{"v":"old"}'));
    await old.sync();
    // libuv's pool takes work in the order it was asked for: once 64 stats asked for now are done,
    // mkdirs asked for during the put (had it started them) would all have been taken up.
    await Promise.all(Array.from({ length: 64 }, () => stat(join(dir, 'old'))));
    expect((await prefixes('old')).sort()).toEqual([...new Set(['ab', put.digest.slice(0, 2)])].sort());
  });

  it('puts into a folder another store made (an earlier run) without a thread-pool request', async () => {
    // Two outputs whose objects share a folder (the digest's first two hex digits).
    const bytesOf = (i: number) => text(`{"v":${i}}`);
    const prefix = sha256(bytesOf(0)).slice(0, 2);
    let other = 1;
    while (sha256(bytesOf(other)).slice(0, 2) !== prefix) other++;
    const earlier = deferredSyncOf(localStore(join(dir, 'store')))!;
    await earlier.storage.put(bytesOf(0));
    await earlier.sync();
    // A store of a new process knows nothing of the folders made before it. Its first put clears
    // stale temp files, once, through the pool; bytes in another folder are that first put.
    const deferred = deferredSyncOf(localStore(join(dir, 'store')))!;
    let first = other + 1;
    while (sha256(bytesOf(first)).slice(0, 2) === prefix) first++;
    await deferred.storage.put(bytesOf(first));
    const requests: string[] = [];
    const hook = createHook({
      init(_id, type) {
        if (type.startsWith('FSREQ')) requests.push(type);
      },
    }).enable();
    let stored: { digest: string };
    try {
      stored = await deferred.storage.put(bytesOf(other));
    } finally {
      hook.disable();
    }
    // An mkdir of the existing folder first was one round trip per output on a re-run's critical path.
    expect(requests).toEqual([]);
    expect(stored.digest.slice(0, 2)).toBe(prefix);
    expect(await deferred.storage.verify(stored.digest)).toBe('ok');
    await deferred.sync();
  });

  it('refuses bytes that do not match the expected digest and writes nothing', async () => {
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    const expectedDigest = sha256(text('{"v":"expected"}'));
    await expect(deferred.storage.put(text('{"v":"other"}'), { expectedDigest })).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_CORRUPT',
    });
    expect(await filesUnder(join(dir, 'store'))).toEqual([]);
  });

  it('fails a put whose object folder is not a folder, names the object, and leaves no temp file', async () => {
    // An existing store: no prefix folders made in the background to race the file put in one's place.
    await mkdir(join(dir, 'store', 'objects'), { recursive: true });
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    const bytes = text('{"v":"blocked"}');
    const digest = sha256(bytes);
    await deferred.storage.put(text('{"v":"first"}'));
    // The object's prefix folder is a file: the rename into it fails (not with ENOENT, so not retried).
    await writeFile(join(dir, 'store', 'objects', digest.slice(0, 2)), 'not a folder');
    await expect(deferred.storage.put(bytes)).rejects.toMatchObject({
      code: 'CAIRN_STORAGE_FAILED',
      message: expect.stringContaining(digest.slice(2)),
    });
    expect(await filesUnder(join(dir, 'store', 'tmp'))).toEqual([]);
  });

  it('fails to sync an object removed before its sync, keeps it listed, and names the path', async () => {
    const store = localStore(join(dir, 'store'));
    const deferred = deferredSyncOf(store)!;
    const { digest } = await deferred.storage.put(text('{"v":"gone"}'));
    const path = (await store.localPath!(digest))!;
    await rm(path);
    const failure = { code: 'CAIRN_STORAGE_FAILED', message: expect.stringContaining(path) };
    await expect(deferred.sync([digest])).rejects.toMatchObject(failure);
    // Still listed: the next sync is refused again, not silently taken for done.
    await expect(deferred.sync()).rejects.toMatchObject(failure);
  });
});
