// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { type S3StorageOptions, s3Storage } from '../src/index';

export const server = inject('s3');

// The driver reads its credentials through ${env:…} references, as a project would.
process.env.CAIRN_TEST_S3_ENDPOINT = server.endpoint;
process.env.CAIRN_TEST_S3_ACCESS_KEY = server.accessKeyId;
process.env.CAIRN_TEST_S3_SECRET_KEY = server.secretAccessKey;

/** A prefix no other test file or run shares, so listings only see this test's objects. */
export const uniquePrefix = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

export function storeOptions(prefix: string, overrides: Partial<S3StorageOptions> = {}): S3StorageOptions {
  return {
    bucket: server.bucket,
    prefix,
    endpoint: '${env:CAIRN_TEST_S3_ENDPOINT}',
    credentials: {
      accessKeyId: '${env:CAIRN_TEST_S3_ACCESS_KEY}',
      secretAccessKey: '${env:CAIRN_TEST_S3_SECRET_KEY}',
    },
    ...overrides,
  };
}

export const store = (prefix: string, overrides: Partial<S3StorageOptions> = {}) =>
  s3Storage(storeOptions(prefix, overrides));

/** A plain SDK client on the test server, to look at or damage objects behind the driver's back. */
export function rawClient(): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export const objectKey = (prefix: string, digest: string) =>
  `${prefix}/objects/${digest.slice(0, 2)}/${digest.slice(2)}`;

/**
 * Rewrite a stored object with one byte flipped, keeping its size and its
 * metadata: the worst case, where only the bytes themselves tell.
 */
export async function flipByte(prefix: string, digest: string): Promise<void> {
  const client = rawClient();
  try {
    const key = objectKey(prefix, digest);
    const object = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    const at = Math.floor(bytes.byteLength / 2);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    const head = await client.send(new HeadObjectCommand({ Bucket: server.bucket, Key: key }));
    await client.send(
      new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: bytes, Metadata: head.Metadata ?? {} }),
    );
  } finally {
    client.destroy();
  }
}
