// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { CairnError, ErrorCodes, type PluginRef } from '@cairn/core';
import { hasEnvRefs, resolveEnvRefs } from '@cairn/runtime';

/** Static credentials. Without them the AWS default chain is used (env, profile, SSO, instance role). */
export interface S3Credentials {
  /** @example '${env:AWS_ACCESS_KEY_ID}' */
  accessKeyId: string;
  /** @example '${env:AWS_SECRET_ACCESS_KEY}' */
  secretAccessKey: string;
  /** For temporary credentials. @example '${env:AWS_SESSION_TOKEN}' */
  sessionToken?: string;
}

/**
 * Options of {@link s3Storage}. Every string may be, or contain, a
 * `${env:NAME}` reference; references are resolved when the store is first
 * used, so a config file can name a bucket that only exists in CI.
 */
export interface S3StorageOptions {
  /** The bucket; it must exist. @example '${env:ARTIFACT_BUCKET}' */
  bucket: string;
  /** Key prefix inside the bucket; objects go to `<prefix>/objects/…`. @default '' (bucket root) */
  prefix?: string;
  /** @default process.env.AWS_REGION, else 'us-east-1' */
  region?: string;
  /** An S3-compatible server's URL. @default AWS S3 for the region @example 'http://127.0.0.1:7480' */
  endpoint?: string;
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint`. @default true with `endpoint`, else false */
  forcePathStyle?: boolean;
  /** @default the AWS default credential chain */
  credentials?: S3Credentials;
  /** Multipart upload part size in bytes (5 MiB – 5 GiB); objects up to this size are sent in one request. @default 8 MiB */
  partSize?: number;
  /** Attempts per request, with exponential backoff, on throttling, 5xx and network errors. @default 5 */
  maxAttempts?: number;
  /** Parts uploaded in parallel; memory held by a write is about `(queueSize + 1) × partSize`. @default 4 */
  queueSize?: number;
  /**
   * Objects larger than this are copied from their temporary key in parts
   * (UploadPartCopy) instead of one CopyObject. S3 refuses single copies above 5 GiB.
   * @default 5 GiB
   */
  multipartCopyThreshold?: number;
}

/** The options with references resolved and defaults applied. */
export interface ResolvedOptions {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket root. */
  prefix: string;
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  credentials: S3Credentials | undefined;
  partSize: number;
  maxAttempts: number;
  queueSize: number;
  multipartCopyThreshold: number;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
const MIN_PART = 5 * MiB;
const MAX_PART = 5 * GiB;
const KNOWN = new Set([
  'bucket',
  'prefix',
  'region',
  'endpoint',
  'forcePathStyle',
  'credentials',
  'partSize',
  'maxAttempts',
  'queueSize',
  'multipartCopyThreshold',
]);
/** S3's rules for bucket names, loosely: 3–63 of lowercase letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function invalid(option: string, message: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `storage-s3: option "${option}" ${message}`, {
    context: { plugin: 'storage-s3', option },
  });
}

const isRef = (value: unknown) => typeof value === 'string' && hasEnvRefs(value);

function checkString(options: Record<string, unknown>, key: string, required: boolean): void {
  const value = options[key];
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(key, `must be a non-empty string${required ? '' : ' when given'}, got ${describe(value)}`);
  }
}

function checkInteger(options: Record<string, unknown>, key: string, min: number, max: number): void {
  const value = options[key];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(key, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
}

function checkBucket(bucket: string, via: string): void {
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw invalid(
      'bucket',
      `${via}is not a valid bucket name: ${JSON.stringify(bucket)} (3–63 lowercase letters, digits, "." and "-")`,
    );
  }
}

function checkEndpoint(endpoint: string, via: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(
      'endpoint',
      `${via}is not a URL: ${JSON.stringify(endpoint)} (expected e.g. http://127.0.0.1:7480)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('endpoint', `${via}must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`);
  }
  if (url.username || url.password) {
    throw invalid('endpoint', `must not carry credentials in the URL; use the "credentials" option`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}

/**
 * Check the options as written (before `${env:…}` resolution): types, ranges
 * and whatever literal values can be checked now. Throws
 * `CAIRN_PLUGIN_OPTIONS_INVALID` naming the option.
 */
export function validateOptions(options: unknown): asserts options is S3StorageOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('bucket', `is required: call s3Storage({ bucket: '…' }), got ${describe(options)}`);
  }
  const raw = options as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(key, `is not an option (known: ${[...KNOWN].join(', ')})`);
  }
  checkString(raw, 'bucket', true);
  if (!isRef(raw.bucket)) checkBucket(raw.bucket as string, '');
  if (raw.prefix !== undefined && typeof raw.prefix !== 'string') {
    throw invalid('prefix', `must be a string, got ${describe(raw.prefix)}`);
  }
  if (typeof raw.prefix === 'string' && !isRef(raw.prefix)) checkPrefix(raw.prefix, '');
  checkString(raw, 'region', false);
  checkString(raw, 'endpoint', false);
  if (typeof raw.endpoint === 'string' && !isRef(raw.endpoint)) checkEndpoint(raw.endpoint, '');
  if (raw.forcePathStyle !== undefined && typeof raw.forcePathStyle !== 'boolean') {
    throw invalid('forcePathStyle', `must be a boolean, got ${describe(raw.forcePathStyle)}`);
  }
  checkInteger(raw, 'partSize', MIN_PART, MAX_PART);
  checkInteger(raw, 'maxAttempts', 1, 20);
  checkInteger(raw, 'queueSize', 1, 64);
  checkInteger(raw, 'multipartCopyThreshold', MIN_PART, MAX_PART);
  if (raw.credentials !== undefined) {
    const credentials = raw.credentials as Record<string, unknown>;
    if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) {
      throw invalid(
        'credentials',
        `must be { accessKeyId, secretAccessKey, sessionToken? }, got ${describe(credentials)}`,
      );
    }
    for (const key of Object.keys(credentials)) {
      if (!['accessKeyId', 'secretAccessKey', 'sessionToken'].includes(key)) {
        throw invalid(
          `credentials.${key}`,
          'is not an option (known: accessKeyId, secretAccessKey, sessionToken)',
        );
      }
    }
    // Never echo a credential's value, not even a malformed one.
    for (const key of ['accessKeyId', 'secretAccessKey']) {
      if (typeof credentials[key] !== 'string' || (credentials[key] as string).length === 0) {
        throw invalid(`credentials.${key}`, 'must be a non-empty string (e.g. "${env:AWS_ACCESS_KEY_ID}")');
      }
    }
    if (credentials.sessionToken !== undefined && typeof credentials.sessionToken !== 'string') {
      throw invalid('credentials.sessionToken', 'must be a string when given');
    }
  }
}

function checkPrefix(prefix: string, via: string): void {
  const parts = prefix.split('/').filter(Boolean);
  if (
    parts.some((part) => part === '.' || part === '..') ||
    [...prefix].some((char) => char === '\\' || char.charCodeAt(0) < 0x20)
  ) {
    throw invalid(
      'prefix',
      `${via}must be a plain key prefix like "team/cairn", got ${JSON.stringify(prefix)}`,
    );
  }
}

/** Resolve `${env:…}` references (throws `CAIRN_CONFIG_ENV_MISSING`) and apply defaults. */
export function resolveOptions(
  options: S3StorageOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const resolved = resolveEnvRefs(options, env);
  const via = (key: keyof S3StorageOptions) => (isRef(options[key]) ? `(from ${String(options[key])}) ` : '');
  checkBucket(resolved.bucket, via('bucket'));
  if (resolved.endpoint !== undefined) checkEndpoint(resolved.endpoint, via('endpoint'));
  const prefix = (resolved.prefix ?? '').replace(/^\/+|\/+$/g, '');
  checkPrefix(prefix, via('prefix'));
  return {
    bucket: resolved.bucket,
    prefix,
    region: resolved.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: resolved.endpoint?.replace(/\/+$/, ''),
    forcePathStyle: resolved.forcePathStyle ?? resolved.endpoint !== undefined,
    credentials: resolved.credentials,
    partSize: resolved.partSize ?? 8 * MiB,
    maxAttempts: resolved.maxAttempts ?? 5,
    queueSize: resolved.queueSize ?? 4,
    multipartCopyThreshold: resolved.multipartCopyThreshold ?? MAX_PART,
  };
}

/**
 * The options a worker re-creates the store from. Credentials survive only as
 * `${env:…}` references (which name a variable, not a secret); literal keys
 * are dropped and the worker falls back to the AWS default chain.
 */
export function refFor(options: S3StorageOptions): PluginRef {
  const { credentials, ...rest } = options;
  const portable =
    credentials &&
    isRef(credentials.accessKeyId) &&
    isRef(credentials.secretAccessKey) &&
    (credentials.sessionToken === undefined || isRef(credentials.sessionToken));
  return {
    module: '@cairn/storage-s3',
    export: 's3Storage',
    options: JSON.parse(JSON.stringify(portable ? { ...rest, credentials } : rest)),
  };
}

/** Values that must never appear in a message. */
export function secretsOf(options: ResolvedOptions): string[] {
  const { credentials } = options;
  return [credentials?.secretAccessKey, credentials?.sessionToken].filter(
    (value): value is string => typeof value === 'string' && value.length >= 4,
  );
}
