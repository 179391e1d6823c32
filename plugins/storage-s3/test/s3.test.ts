// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/**
 * What only a network store has: a server that goes away mid-upload, refused
 * credentials, a missing bucket, multipart uploads and server-side copies,
 * and what a worker gets through `ref`. All against the real radosgw started
 * by test/server.ts.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { StorageDriver } from '@cairn/core';
import { afterEach, describe, expect, it } from 'vitest';
import { s3Storage } from '../src/index';
import { flipByte, rawClient, server, store, storeOptions, uniquePrefix } from './helpers';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const open: StorageDriver[] = [];
const track = (driver: StorageDriver) => {
  open.push(driver);
  return driver;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((driver) => driver.close?.()));
});

async function failure(run: () => unknown): Promise<{ code?: string; message: string; hint?: string }> {
  try {
    await run();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** Every key under `prefix/` in the bucket, and the multipart uploads still open there. */
async function bucketState(prefix: string): Promise<{ keys: string[]; uploads: string[] }> {
  const client = rawClient();
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((item) => item.Key as string));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: `${prefix}/` }),
    );
    return { keys, uploads: (uploads.Uploads ?? []).map((upload) => upload.Key as string) };
  } finally {
    client.destroy();
  }
}

/** `size` bytes in 1 MiB chunks, every chunk different, generated on the fly. */
function generated(size: number, onChunk?: (index: number) => void | Promise<void>) {
  const seed = randomBytes(MiB);
  const hash = createHash('sha256');
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let at = 0, index = 0; at < size; at += MiB, index++) {
      await onChunk?.(index);
      const chunk = Buffer.allocUnsafe(Math.min(MiB, size - at));
      seed.copy(chunk, 0, 0, chunk.length);
      if (chunk.length >= 16) {
        chunk.writeDoubleLE(index, 0);
        chunk.writeDoubleLE(Math.random(), 8);
      }
      hash.update(chunk);
      yield chunk;
    }
  }
  return { chunks: chunks(), digest: () => hash.digest('hex') };
}

/** A source that fails the test if anything reads it. */
function untouchable(): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(new Error('the source was read although the object was already stored')),
      return: () => Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
}

describe('options', () => {
  it('refuses bad options at factory time, naming the plugin and the option', async () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'bucket'],
      [{}, 'bucket'],
      [{ bucket: 'No_Such Bucket' }, 'bucket'],
      [{ bucket: 'ok-bucket', partSize: 1024 }, 'partSize'],
      [{ bucket: 'ok-bucket', maxAttempts: 0 }, 'maxAttempts'],
      [{ bucket: 'ok-bucket', endpoint: 'not a url' }, 'endpoint'],
      [{ bucket: 'ok-bucket', endpoint: 'http://user:pw@host' }, 'endpoint'],
      [{ bucket: 'ok-bucket', prefix: 'a/../b' }, 'prefix'],
      [{ bucket: 'ok-bucket', forcePathStyle: 'yes' }, 'forcePathStyle'],
      [{ bucket: 'ok-bucket', credentials: { accessKeyId: 'AKIA' } }, 'credentials.secretAccessKey'],
      [{ bucket: 'ok-bucket', bukket: 'typo' }, 'bukket'],
    ];
    for (const [options, option] of cases) {
      const error = await failure(() => s3Storage(options as never));
      expect(error.code, JSON.stringify(options)).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
      expect(error.message).toContain('storage-s3');
      expect(error.message).toContain(`"${option}"`);
    }
  });

  it('never echoes a credential, even a malformed one', async () => {
    const error = await failure(() =>
      s3Storage({
        bucket: 'ok-bucket',
        credentials: { accessKeyId: 'AKIAVISIBLE', secretAccessKey: 42 as never },
      }),
    );
    expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
    expect(error.message).not.toContain('42');
  });

  it('resolves ${env:…} references at first use and names a missing variable', async () => {
    const driver = track(s3Storage({ bucket: '${env:CAIRN_TEST_UNSET_BUCKET}', endpoint: server.endpoint }));
    const error = await failure(() => driver.stat('0'.repeat(64)));
    expect(error.code).toBe('CAIRN_CONFIG_ENV_MISSING');
    expect(error.message).toContain('CAIRN_TEST_UNSET_BUCKET');

    process.env.CAIRN_TEST_LATE_BUCKET = 'Bad_Bucket';
    const late = track(s3Storage({ bucket: '${env:CAIRN_TEST_LATE_BUCKET}', endpoint: server.endpoint }));
    const bad = await failure(() => late.stat('0'.repeat(64)));
    expect(bad.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
    expect(bad.message).toContain('CAIRN_TEST_LATE_BUCKET');
  });

  it('hands workers a ref without secrets, which re-creates a working store', async () => {
    const prefix = uniquePrefix('ref');
    const literal = s3Storage({
      ...storeOptions(prefix),
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    expect(literal.ref?.module).toBe('@cairn/storage-s3');
    expect(literal.ref?.export).toBe('s3Storage');
    expect(JSON.stringify(literal.ref)).not.toContain(server.secretAccessKey);
    expect(JSON.stringify(literal.ref)).not.toContain(server.accessKeyId);

    const driver = track(store(prefix));
    const bytes = randomBytes(1000);
    const { digest } = await driver.put(bytes);
    // Env references name variables, not secrets: they follow the task to the worker.
    expect(JSON.stringify(driver.ref)).not.toContain(server.secretAccessKey);
    const worker = track(s3Storage(driver.ref?.options as never));
    expect(await worker.verify(digest)).toBe('ok');
  });
});

describe('against radosgw', () => {
  it('names the endpoint and bucket and says the credentials were refused; nothing is written', async () => {
    const prefix = uniquePrefix('badcreds');
    const secret = 'wrong-secret-9f8e7d6c5b4a';
    const driver = track(
      s3Storage({
        bucket: server.bucket,
        prefix,
        endpoint: server.endpoint,
        credentials: { accessKeyId: 'NOSUCHACCESSKEY', secretAccessKey: secret },
        maxAttempts: 2,
      }),
    );
    for (const call of [() => driver.put(randomBytes(100)), () => driver.put(generated(12 * MiB).chunks)]) {
      const error = await failure(call);
      expect(error.code).toBe('CAIRN_STORAGE_FAILED');
      expect(error.message).toContain(server.endpoint);
      expect(error.message).toContain(`"${server.bucket}"`);
      expect(error.message).toMatch(/credentials/);
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    }
    expect(await bucketState(prefix)).toEqual({ keys: [], uploads: [] });
  });

  it('says plainly that a bucket does not exist', async () => {
    const driver = track(store(uniquePrefix('nobucket'), { bucket: 'cairn-no-such-bucket' }));
    for (const call of [
      () => driver.put(randomBytes(100)),
      () => driver.stat('a'.repeat(64)),
      () => driver.get('a'.repeat(64)),
    ]) {
      const error = await failure(call);
      expect(error.code).toBe('CAIRN_STORAGE_FAILED');
      expect(error.message).toContain('bucket "cairn-no-such-bucket" does not exist');
      expect(error.message).toContain(server.endpoint);
    }
  });

  it('names the endpoint when nothing listens there', async () => {
    const driver = track(store(uniquePrefix('refused'), { endpoint: 'http://127.0.0.1:9', maxAttempts: 2 }));
    const error = await failure(() => driver.put(randomBytes(100)));
    expect(error.code).toBe('CAIRN_STORAGE_FAILED');
    expect(error.message).toContain('http://127.0.0.1:9');
    expect(error.message).toContain('cannot reach the server');
  });

  it('streams large artifacts as multipart uploads and leaves no temporary object or upload', async () => {
    const prefix = uniquePrefix('multipart');
    const driver = track(store(prefix, { partSize: 5 * MiB, queueSize: 2 }));
    const source = generated(23 * MiB + 5);
    const stored = await driver.put(source.chunks);
    expect(stored).toEqual({ digest: source.digest(), size: 23 * MiB + 5 });
    expect(await driver.verify(stored.digest)).toBe('ok');
    const state = await bucketState(prefix);
    expect(state.uploads).toEqual([]);
    expect(state.keys).toEqual([`${prefix}/objects/${stored.digest.slice(0, 2)}/${stored.digest.slice(2)}`]);

    // Putting it again with its digest is one HEAD: the source is not read.
    expect(await driver.put(untouchable(), { expectedDigest: stored.digest })).toEqual(stored);

    // …unless the stored bytes were replaced: then the new bytes are uploaded and repair it.
    await flipByte(prefix, stored.digest);
    expect(await failure(() => driver.put(untouchable(), { expectedDigest: stored.digest }))).toMatchObject({
      message: expect.stringContaining('the source was read'),
    });
    expect(await driver.verify(stored.digest)).toBe('corrupt');
  });

  it('copies in parts above multipartCopyThreshold', async () => {
    const prefix = uniquePrefix('partcopy');
    const driver = track(store(prefix, { partSize: 5 * MiB, multipartCopyThreshold: 5 * MiB }));
    const source = generated(17 * MiB);
    const stored = await driver.put(source.chunks);
    expect(stored.digest).toBe(source.digest());
    const back = createHash('sha256');
    for await (const chunk of await driver.get(stored.digest)) back.update(chunk);
    expect(back.digest('hex')).toBe(stored.digest);
    expect(await driver.put(untouchable(), { expectedDigest: stored.digest })).toEqual(stored);
    expect((await bucketState(prefix)).keys).toHaveLength(1);
  });

  it('refuses a multipart upload whose bytes do not match expectedDigest, storing nothing', async () => {
    const prefix = uniquePrefix('mismatch');
    const driver = track(store(prefix, { partSize: 5 * MiB }));
    const error = await failure(() =>
      driver.put(generated(12 * MiB).chunks, { expectedDigest: 'b'.repeat(64) }),
    );
    expect(error.code).toBe('CAIRN_ARTIFACT_CORRUPT');
    expect(await bucketState(prefix)).toEqual({ keys: [], uploads: [] });
  });

  it('aborts the multipart upload when the put is aborted', async () => {
    const prefix = uniquePrefix('abort');
    const driver = track(store(prefix, { partSize: 5 * MiB }));
    const controller = new AbortController();
    const source = generated(40 * MiB, (index) => {
      if (index === 20) controller.abort(new Error('stopped by the test'));
    });
    const error = await failure(() => driver.put(source.chunks, { signal: controller.signal }));
    expect(error.message).toBe('stopped by the test');
    expect(await bucketState(prefix)).toEqual({ keys: [], uploads: [] });
  });

  it('lets concurrent multipart writers of the same artifact all succeed into one object', async () => {
    const prefix = uniquePrefix('race');
    const bytes = randomBytes(14 * MiB);
    const digest = sha256(bytes);
    const writers = Array.from({ length: 4 }, () => track(store(prefix, { partSize: 5 * MiB })));
    const results = await Promise.all(
      writers.map(async (driver, i) => {
        async function* slices() {
          for (let at = 0; at < bytes.byteLength; at += 256 * 1024 + i)
            yield bytes.subarray(at, at + 256 * 1024 + i);
        }
        return driver.put(slices());
      }),
    );
    for (const result of results) expect(result).toEqual({ digest, size: bytes.byteLength });
    const state = await bucketState(prefix);
    expect(state).toEqual({
      keys: [`${prefix}/objects/${digest.slice(0, 2)}/${digest.slice(2)}`],
      uploads: [],
    });
    expect(await writers[0]?.verify(digest)).toBe('ok');
  });

  it('streams 1 GiB through put and get with bounded memory', async () => {
    const size = 1024 * MiB;
    const driver = track(store(uniquePrefix('huge')));
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const source = generated(size, (index) => {
      if (index % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    });
    const stored = await driver.put(source.chunks);
    expect(stored).toEqual({ digest: source.digest(), size });
    let read = 0;
    let chunks = 0;
    const back = createHash('sha256');
    for await (const chunk of await driver.get(stored.digest)) {
      back.update(chunk);
      read += chunk.byteLength;
      if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(read).toBe(size);
    expect(back.digest('hex')).toBe(stored.digest);
    // A driver that buffers grows by the whole gigabyte; streaming stays at parts in flight,
    // SDK buffers and uncollected garbage (about 115 MiB seen under CI load). RSS is noisy.
    expect(peak - baseline, 'resident memory growth while streaming 1 GiB').toBeLessThan(400 * MiB);
    await driver.delete(stored.digest);
  });

  // Last: it takes the gateway down and brings it back.
  it('fails clearly when the server stops mid-upload, and nothing appears under the digest', async () => {
    const prefix = uniquePrefix('killed');
    const driver = track(store(prefix, { partSize: 5 * MiB, maxAttempts: 2 }));
    let stopped: Promise<unknown> | undefined;
    const source = generated(120 * MiB, async (index) => {
      if (index === 30) {
        stopped = run('bash', [server.script, 'stop-gateway', server.dir]);
        await stopped;
      }
    });
    const error = await failure(() => driver.put(source.chunks));
    await stopped;
    expect(error.code).toBe('CAIRN_STORAGE_FAILED');
    expect(error.message).toContain(server.endpoint);
    expect(error.message).toContain('cannot reach the server');

    await run('bash', [server.script, 'start-gateway', server.dir], { timeout: 600_000 });
    const state = await bucketState(prefix);
    // The unfinished upload may survive (the abort could not reach the server) but it has no key.
    expect(state.keys).toEqual([]);
    const after = track(store(prefix));
    const list = [];
    for await (const item of after.list()) list.push(item);
    expect(list).toEqual([]);
    // And the store works again once the server is back.
    const bytes = randomBytes(6 * MiB);
    expect(await after.put(bytes)).toEqual({ digest: sha256(bytes), size: bytes.byteLength });
  });
});
