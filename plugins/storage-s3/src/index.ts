/**
 * @cairn/storage-s3 — Cairn artifact storage on any S3-compatible server.
 *
 * Layout in the bucket: `<prefix>/objects/<2 hex>/<62 hex>` for artifacts,
 * `<prefix>/tmp/<uuid>` for large uploads in flight.
 *
 * Why the write path looks the way it does: an object's key is its sha256,
 * which is only known after the last byte, and S3 cannot rename.
 * - An artifact that fits in one part (`partSize`, 8 MiB by default) is
 *   buffered, hashed, and sent with one PutObject straight to its final key:
 *   S3 makes a PUT visible all at once or not at all.
 * - A larger artifact streams as a multipart upload to a temporary key, and
 *   is then copied server-side to its final key (CopyObject, or UploadPartCopy
 *   above 5 GiB) and the temporary object deleted. A failure or abort before
 *   the copy aborts the multipart upload; nothing ever appears under a digest
 *   key that was not completely written and checked.
 * Every object carries `cairn-sha256` and `cairn-md5` metadata. The server
 * computes the ETag (an MD5) from the bytes it holds, so "ETag equals the
 * recorded MD5" proves with one HEAD that the bytes were not replaced since:
 * that is what makes a repeated `put` cheap without trusting a stale object.
 */
import { createHash, randomUUID } from 'node:crypto';
import type * as S3 from '@aws-sdk/client-s3';
import {
  assertDigest,
  CairnError,
  ErrorCodes,
  isDigest,
  type ObjectStat,
  type PutOptions,
  type StorageDriver,
} from '@cairn/core';
import {
  asChunks,
  assertExpectedDigest,
  discard,
  hashCounter,
  verifiedStream,
} from '@cairn/runtime/plugin-kit';
import { isNotFound, isTransient, storageFailed, type Target } from './errors';
import {
  GiB,
  type ResolvedOptions,
  refFor,
  resolveOptions,
  type S3StorageOptions,
  secretsOf,
  validateOptions,
} from './options';

export type { S3Credentials, S3StorageOptions } from './options';

type Sdk = typeof S3;

interface Context {
  sdk: Sdk;
  client: S3.S3Client;
  options: ResolvedOptions;
  target: Target;
  /** Set once HeadBucket succeeded: a 404 on HEAD then means "no such object". */
  bucketSeen: boolean;
}

/** What `put` knows about the bytes it wrote. */
interface Written {
  digest: string;
  size: number;
  md5: string;
}

const MAX_PARTS = 10_000;
const COPY_ATTEMPTS = 3;

/**
 * Store artifacts in an S3 bucket (AWS or any S3-compatible server: Ceph
 * radosgw, MinIO, R2, …). The AWS SDK is loaded on first use.
 *
 * @example
 * ```ts
 * s3Storage({
 *   bucket: '${env:ARTIFACT_BUCKET}',
 *   prefix: 'cairn',
 *   endpoint: '${env:S3_ENDPOINT}',
 *   credentials: { accessKeyId: '${env:AWS_ACCESS_KEY_ID}', secretAccessKey: '${env:AWS_SECRET_ACCESS_KEY}' },
 * });
 * ```
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the option, when an option is malformed
 */
export function s3Storage(options: S3StorageOptions): StorageDriver {
  validateOptions(options);
  // A private copy: later changes to the caller's object must not change the store.
  const raw: S3StorageOptions = JSON.parse(JSON.stringify(options));
  let context: Promise<Context> | undefined;
  let closed = false;

  const open = (): Promise<Context> => {
    if (closed) {
      return Promise.reject(new CairnError(ErrorCodes.STORAGE_FAILED, 'storage-s3: the store was closed'));
    }
    context ??= connect(raw).catch((error) => {
      // Let a later call retry, e.g. once a missing environment variable is set.
      context = undefined;
      throw error;
    });
    return context;
  };

  const driver: StorageDriver = {
    kind: 'storage',
    name: 's3',
    capabilities: { persistent: true, shared: true, localPath: false },
    ref: refFor(raw),

    async put(source, putOptions: PutOptions = {}) {
      const { expectedDigest, signal } = putOptions;
      try {
        if (expectedDigest !== undefined) assertDigest(expectedDigest, 'expected digest');
        signal?.throwIfAborted();
        const ctx = await open();
        if (expectedDigest !== undefined) {
          const existing = await intact(ctx, expectedDigest, signal);
          if (existing) {
            await discard(source);
            return existing;
          }
        }
        return await write(ctx, source, expectedDigest, signal);
      } catch (error) {
        await discard(source).catch(() => {});
        throw signal?.aborted && !CairnError.is(error) ? signal.reason : error;
      }
    },

    async get(digest, getOptions = {}) {
      assertDigest(digest);
      const ctx = await open();
      const { signal } = getOptions;
      const response = await read(ctx, digest, signal);
      if (!response) throw notFound(ctx, digest);
      return verifiedStream(
        bodyChunks(ctx, response.Body, digest, signal),
        digest,
        response.ContentLength === undefined ? {} : { size: response.ContentLength },
      );
    },

    async stat(digest) {
      assertDigest(digest);
      const ctx = await open();
      const head = await headObject(ctx, objectKey(ctx, digest));
      return head ? { digest, size: head.ContentLength ?? 0 } : undefined;
    },

    async verify(digest) {
      assertDigest(digest);
      const ctx = await open();
      return rehash(ctx, digest);
    },

    async *list() {
      const ctx = await open();
      const prefix = `${base(ctx)}objects/`;
      let token: string | undefined;
      do {
        const page: S3.ListObjectsV2CommandOutput = await send(
          ctx,
          'list objects',
          new ctx.sdk.ListObjectsV2Command({
            Bucket: ctx.options.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const item of page.Contents ?? []) {
          const rest = item.Key?.slice(prefix.length) ?? '';
          const digest = rest.slice(0, 2) + rest.slice(3);
          // Anything else under the prefix (a stray upload by hand) is not an artifact.
          if (rest[2] === '/' && isDigest(digest)) yield { digest, size: item.Size ?? 0 };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },

    async delete(digest) {
      assertDigest(digest);
      const ctx = await open();
      await send(
        ctx,
        `delete object ${digest}`,
        new ctx.sdk.DeleteObjectCommand({ Bucket: ctx.options.bucket, Key: objectKey(ctx, digest) }),
      );
    },

    async close() {
      closed = true;
      const pending = context;
      context = undefined;
      const ctx = await pending?.catch(() => undefined);
      ctx?.client.destroy();
    },
  };
  return driver;
}

export default s3Storage;

async function connect(options: S3StorageOptions): Promise<Context> {
  const resolved = resolveOptions(options);
  const sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client({
    region: resolved.region,
    ...(resolved.endpoint ? { endpoint: resolved.endpoint } : {}),
    forcePathStyle: resolved.forcePathStyle,
    ...(resolved.credentials ? { credentials: resolved.credentials } : {}),
    maxAttempts: resolved.maxAttempts,
    retryMode: 'standard',
    // Integrity is ours: Content-MD5 on every upload and sha256 on every read.
    // The SDK's default flexible checksums make some S3-compatible servers
    // reject streamed uploads and others store the aws-chunked framing.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A server that stops answering must fail the request, not hang it.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
  return {
    sdk,
    client,
    options: resolved,
    target: {
      endpoint: resolved.endpoint ?? `https://s3.${resolved.region}.amazonaws.com`,
      bucket: resolved.bucket,
      secrets: secretsOf(resolved),
    },
    bucketSeen: false,
  };
}

const base = (ctx: Context) => (ctx.options.prefix ? `${ctx.options.prefix}/` : '');
const objectKey = (ctx: Context, digest: string) =>
  `${base(ctx)}objects/${digest.slice(0, 2)}/${digest.slice(2)}`;
const md5Base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const unquote = (etag: string | undefined) => etag?.replace(/"/g, '').toLowerCase();

/** Send one command; failures become CAIRN_STORAGE_FAILED naming `operation`, aborts the signal's reason. */
async function send<Output>(
  ctx: Context,
  operation: string,
  command: object,
  signal?: AbortSignal,
): Promise<Output> {
  try {
    return (await ctx.client.send(command as any, signal ? { abortSignal: signal } : {})) as Output;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw storageFailed(operation, error, ctx.target);
  }
}

function notFound(ctx: Context, digest: string): CairnError {
  return new CairnError(
    ErrorCodes.ARTIFACT_NOT_FOUND,
    `artifact ${digest} not found in S3 bucket "${ctx.options.bucket}" at ${ctx.target.endpoint} (key ${objectKey(ctx, digest)})`,
  );
}

async function headObject(ctx: Context, key: string, signal?: AbortSignal) {
  try {
    return await ctx.client.send(
      new ctx.sdk.HeadObjectCommand({ Bucket: ctx.options.bucket, Key: key }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (!isNotFound(error)) throw storageFailed(`stat ${key}`, error, ctx.target);
  }
  // A HEAD response has no body, so a missing bucket also looks like a plain 404.
  if (!ctx.bucketSeen) {
    try {
      await ctx.client.send(new ctx.sdk.HeadBucketCommand({ Bucket: ctx.options.bucket }));
      ctx.bucketSeen = true;
    } catch (error) {
      const missing = isNotFound(error)
        ? Object.assign(new Error('NoSuchBucket'), { Code: 'NoSuchBucket' })
        : error;
      throw storageFailed(`stat ${key}`, missing, ctx.target);
    }
  }
  return undefined;
}

async function read(ctx: Context, digest: string, signal?: AbortSignal) {
  try {
    return await ctx.client.send(
      new ctx.sdk.GetObjectCommand({ Bucket: ctx.options.bucket, Key: objectKey(ctx, digest) }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (isNotFound(error)) return undefined;
    throw storageFailed(`read object ${digest}`, error, ctx.target);
  }
}

/** The response body as chunks; a dropped connection becomes CAIRN_STORAGE_FAILED. */
async function* bodyChunks(
  ctx: Context,
  body: unknown,
  digest: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (!body) return;
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      signal?.throwIfAborted();
      yield chunk;
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw storageFailed(`read object ${digest}`, error, ctx.target);
  }
}

async function rehash(
  ctx: Context,
  digest: string,
  signal?: AbortSignal,
): Promise<'ok' | 'missing' | 'corrupt'> {
  const response = await read(ctx, digest, signal);
  if (!response) return 'missing';
  try {
    for await (const _ of verifiedStream(
      bodyChunks(ctx, response.Body, digest, signal),
      digest,
      response.ContentLength === undefined ? {} : { size: response.ContentLength },
    ));
    return 'ok';
  } catch (error) {
    if (CairnError.is(error) && error.code === ErrorCodes.ARTIFACT_CORRUPT) return 'corrupt';
    throw error;
  }
}

/**
 * The stored object for `digest` if it is known to be intact: one HEAD when
 * the server's ETag still matches the MD5 recorded at write time, a full
 * re-hash when it cannot tell (objects copied in parts, SSE-KMS, objects
 * written by other tools).
 */
async function intact(ctx: Context, digest: string, signal?: AbortSignal): Promise<ObjectStat | undefined> {
  const head = await headObject(ctx, objectKey(ctx, digest), signal);
  if (!head) return undefined;
  const size = head.ContentLength ?? 0;
  const recorded = head.Metadata?.['cairn-md5'];
  const etag = unquote(head.ETag);
  if (head.Metadata?.['cairn-sha256'] === digest && recorded && etag && /^[0-9a-f]{32}$/.test(etag)) {
    return etag === recorded ? { digest, size } : undefined;
  }
  return (await rehash(ctx, digest, signal)) === 'ok' ? { digest, size } : undefined;
}

/** Read `source`, hash it, and store it under its digest (see the module comment for how). */
async function write(
  ctx: Context,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  expectedDigest: string | undefined,
  signal: AbortSignal | undefined,
): Promise<ObjectStat> {
  const counter = hashCounter();
  const md5 = createHash('md5');
  const chunks = asChunks(source)[Symbol.asyncIterator]();
  const { partSize } = ctx.options;

  // Buffer up to one part: most artifacts end here and need a single PUT.
  let buffered: Uint8Array[] = [];
  let bufferedBytes = 0;
  let done = false;
  const fill = async (limit: number) => {
    while (!done && bufferedBytes < limit) {
      const next = await chunks.next();
      signal?.throwIfAborted();
      if (next.done) {
        done = true;
        break;
      }
      counter.update(next.value);
      md5.update(next.value);
      buffered.push(next.value);
      bufferedBytes += next.value.byteLength;
    }
  };
  const take = () => {
    const body = Buffer.concat(buffered, bufferedBytes);
    buffered = [];
    bufferedBytes = 0;
    return body;
  };
  const refuse = (digest: string) => {
    assertExpectedDigest(expectedDigest, digest);
  };

  await fill(partSize + 1);
  if (done) {
    const body = take();
    const written = { digest: counter.digest(), size: body.byteLength, md5: md5.digest('hex') };
    refuse(written.digest);
    await send(
      ctx,
      `write object ${written.digest}`,
      new ctx.sdk.PutObjectCommand({
        Bucket: ctx.options.bucket,
        Key: objectKey(ctx, written.digest),
        Body: body,
        ContentLength: body.byteLength,
        ContentMD5: md5Base64(written.md5),
        ContentType: 'application/octet-stream',
        Metadata: { 'cairn-sha256': written.digest, 'cairn-md5': written.md5 },
      }),
      signal,
    );
    return { digest: written.digest, size: written.size };
  }

  const tmpKey = `${base(ctx)}tmp/${randomUUID()}`;
  const written = await uploadParts(
    ctx,
    tmpKey,
    fill,
    take,
    () => done,
    signal,
    () => ({
      digest: counter.digest(),
      size: counter.size,
      md5: md5.digest('hex'),
    }),
    refuse,
  );
  try {
    signal?.throwIfAborted();
    // Another writer may have stored the same bytes meanwhile: no need to copy again.
    if (!(await intact(ctx, written.digest, signal))) await copyToFinal(ctx, tmpKey, written, signal);
  } finally {
    await removeQuietly(ctx, tmpKey);
  }
  return { digest: written.digest, size: written.size };
}

/**
 * Stream the rest of the source as a multipart upload to `key`, up to
 * `queueSize` parts in flight. Aborts the upload on any failure.
 */
async function uploadParts(
  ctx: Context,
  key: string,
  fill: (limit: number) => Promise<void>,
  take: () => Buffer,
  isDone: () => boolean,
  signal: AbortSignal | undefined,
  finish: () => Written,
  refuse: (digest: string) => void,
): Promise<Written> {
  const { bucket, queueSize } = ctx.options;
  const created: S3.CreateMultipartUploadCommandOutput = await send(
    ctx,
    `start a multipart upload to ${key}`,
    new ctx.sdk.CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: 'application/octet-stream',
    }),
    signal,
  );
  const uploadId = created.UploadId as string;
  const parts: Array<{ PartNumber: number; ETag: string }> = [];
  const inflight = new Set<Promise<void>>();
  try {
    let partNumber = 0;
    let partSize = ctx.options.partSize;
    while (true) {
      await fill(partSize);
      const body = take();
      if (body.byteLength === 0) break;
      partNumber += 1;
      if (partNumber > MAX_PARTS) {
        throw new CairnError(
          ErrorCodes.STORAGE_FAILED,
          `S3 upload to ${ctx.target.endpoint} (bucket "${bucket}"): the artifact needs more than ${MAX_PARTS} parts; raise "partSize"`,
        );
      }
      // Grow the parts of very large artifacts so they stay under S3's 10 000-part limit.
      if (partNumber % 1000 === 0) partSize = Math.min(partSize * 2, 5 * GiB);
      const number = partNumber;
      const md5 = createHash('md5').update(body).digest('hex');
      const upload: Promise<void> = send<S3.UploadPartCommandOutput>(
        ctx,
        `upload part ${number} of ${key}`,
        new ctx.sdk.UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: md5Base64(md5),
        }),
        signal,
      ).then((result) => {
        parts[number - 1] = { PartNumber: number, ETag: result.ETag as string };
        inflight.delete(upload);
      });
      // Failures surface through Promise.race/all below; this stops an unhandled rejection meanwhile.
      upload.catch(() => {});
      inflight.add(upload);
      if (inflight.size >= queueSize) await Promise.race(inflight);
      if (isDone()) break;
    }
    await Promise.all(inflight);
    const written = finish();
    refuse(written.digest);
    signal?.throwIfAborted();
    await send(
      ctx,
      `complete the multipart upload of ${key}`,
      new ctx.sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
      signal,
    );
    return written;
  } catch (error) {
    await Promise.allSettled(inflight);
    await abortQuietly(ctx, key, uploadId);
    throw error;
  }
}

/** Copy the completed temporary object to its final key, server-side. */
async function copyToFinal(
  ctx: Context,
  tmpKey: string,
  written: Written,
  signal?: AbortSignal,
): Promise<void> {
  const { bucket, multipartCopyThreshold } = ctx.options;
  const key = objectKey(ctx, written.digest);
  const copySource = `${bucket}/${tmpKey.split('/').map(encodeURIComponent).join('/')}`;
  const metadata = { 'cairn-sha256': written.digest, 'cairn-md5': written.md5 };
  const operation = `copy ${tmpKey} to ${key}`;

  if (written.size <= multipartCopyThreshold) {
    const result = await retrying(signal, () =>
      send<S3.CopyObjectCommandOutput>(
        ctx,
        operation,
        new ctx.sdk.CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: copySource,
          MetadataDirective: 'REPLACE',
          Metadata: metadata,
          ContentType: 'application/octet-stream',
        }),
        signal,
      ),
    );
    const etag = unquote(result.CopyObjectResult?.ETag);
    if (etag && /^[0-9a-f]{32}$/.test(etag) && etag !== written.md5) {
      throw new CairnError(
        ErrorCodes.STORAGE_FAILED,
        `S3 ${operation} at ${ctx.target.endpoint} (bucket "${bucket}") produced an object with MD5 ${etag}, expected ${written.md5}`,
      );
    }
    return;
  }

  // Above the single-copy limit: a multipart upload whose parts are ranges of the temporary object.
  const created: S3.CreateMultipartUploadCommandOutput = await send(
    ctx,
    `start a multipart copy to ${key}`,
    new ctx.sdk.CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      Metadata: metadata,
      ContentType: 'application/octet-stream',
    }),
    signal,
  );
  const uploadId = created.UploadId as string;
  try {
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    const partSize = Math.max(multipartCopyThreshold, Math.ceil(written.size / MAX_PARTS));
    for (let start = 0, number = 1; start < written.size; start += partSize, number++) {
      const end = Math.min(start + partSize, written.size) - 1;
      const result = await retrying(signal, () =>
        send<S3.UploadPartCopyCommandOutput>(
          ctx,
          `copy part ${number} of ${tmpKey} to ${key}`,
          new ctx.sdk.UploadPartCopyCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: number,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
          signal,
        ),
      );
      parts.push({ PartNumber: number, ETag: result.CopyPartResult?.ETag as string });
    }
    await retrying(signal, () =>
      send(
        ctx,
        `complete the multipart copy to ${key}`,
        new ctx.sdk.CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
        signal,
      ),
    );
  } catch (error) {
    await abortQuietly(ctx, key, uploadId);
    throw error;
  }
}

/**
 * Retry a copy step on throttling, 5xx and network errors, with exponential
 * backoff and jitter. The SDK already retries each request; this outer loop
 * covers copies, which S3 may fail with a 200 response carrying an error.
 */
async function retrying<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const cause = (error as { cause?: unknown })?.cause;
      if (attempt >= COPY_ATTEMPTS || signal?.aborted || !isTransient(cause ?? error)) throw error;
      const delay = Math.min(5000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise((done) => setTimeout(done, delay));
    }
  }
}

async function abortQuietly(ctx: Context, key: string, uploadId: string): Promise<void> {
  // Best effort: when the server is gone this fails too, and the unfinished
  // upload stays invisible (it has no object key) until a lifecycle rule removes it.
  await ctx.client
    .send(
      new ctx.sdk.AbortMultipartUploadCommand({ Bucket: ctx.options.bucket, Key: key, UploadId: uploadId }),
    )
    .catch(() => {});
}

async function removeQuietly(ctx: Context, key: string): Promise<void> {
  await ctx.client
    .send(new ctx.sdk.DeleteObjectCommand({ Bucket: ctx.options.bucket, Key: key }))
    .catch(() => {});
}
