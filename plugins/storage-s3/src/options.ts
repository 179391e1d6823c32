// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { CairnError, ErrorCodes, type PluginRef } from '@cairn/core';
import { hasEnvRefs, resolveEnvRefs } from '@cairn/runtime';
import { parsePluginOptions } from '@cairn/runtime/plugin-kit';
import { z } from 'zod';

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
/** S3's rules for bucket names, loosely: 3–63 of lowercase letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PLUGIN = 'storage-s3';

function invalid(option: string, message: string): CairnError {
  return new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${PLUGIN}: option "${option}" ${message}`, {
    context: { plugin: PLUGIN, option },
  });
}

const isRef = (value: unknown) => typeof value === 'string' && hasEnvRefs(value);

// Each check returns what is wrong, or undefined; the schema uses them on literal values as written,
// `resolveOptions` again on the values `${env:…}` references resolve to.
function bucketProblem(bucket: string): string | undefined {
  return !BUCKET.test(bucket) || bucket.includes('..')
    ? `is not a valid bucket name: ${JSON.stringify(bucket)} (3–63 lowercase letters, digits, "." and "-")`
    : undefined;
}

function endpointProblem(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `is not a URL: ${JSON.stringify(endpoint)} (expected e.g. http://127.0.0.1:7480)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`;
  }
  if (url.username || url.password)
    return 'must not carry credentials in the URL; use the "credentials" option';
  return undefined;
}

function prefixProblem(prefix: string): string | undefined {
  const parts = prefix.split('/').filter(Boolean);
  return parts.some((part) => part === '.' || part === '..') ||
    [...prefix].some((char) => char === '\\' || char.charCodeAt(0) < 0x20)
    ? `must be a plain key prefix like "team/cairn", got ${JSON.stringify(prefix)}`
    : undefined;
}

/** A string option checked by `problem` unless it holds a `${env:…}` reference (checked once resolved). */
const literal = (what: string, problem: (value: string) => string | undefined) =>
  z.string({ error: what }).superRefine((value, ctx) => {
    const found = isRef(value) ? undefined : problem(value);
    if (found) ctx.addIssue({ code: 'custom', message: found });
  });

const nonEmpty = (what: string) => z.string({ error: what }).min(1, { error: what });

const integer = (min: number, max: number) =>
  z
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` })
    .optional();

/** The options as written (before `${env:…}` resolution): types, ranges and whatever literal values can be checked now. */
const Options = z.strictObject(
  {
    bucket: nonEmpty('must be a non-empty string').pipe(literal('must be a non-empty string', bucketProblem)),
    prefix: literal('must be a string', prefixProblem).optional(),
    region: nonEmpty('must be a non-empty string when given').optional(),
    endpoint: nonEmpty('must be a non-empty string when given')
      .pipe(literal('must be a non-empty string when given', endpointProblem))
      .optional(),
    forcePathStyle: z.boolean({ error: 'must be a boolean' }).optional(),
    credentials: z
      .strictObject(
        {
          // Never echoed, not even a malformed one (they are listed as secret below).
          accessKeyId: nonEmpty('must be a non-empty string (e.g. "${env:AWS_ACCESS_KEY_ID}")'),
          secretAccessKey: nonEmpty('must be a non-empty string (e.g. "${env:AWS_SECRET_ACCESS_KEY}")'),
          sessionToken: z.string({ error: 'must be a string when given' }).optional(),
        },
        { error: 'must be { accessKeyId, secretAccessKey, sessionToken? }' },
      )
      .optional(),
    partSize: integer(MIN_PART, MAX_PART),
    maxAttempts: integer(1, 20),
    queueSize: integer(1, 64),
    multipartCopyThreshold: integer(MIN_PART, MAX_PART),
  },
  { error: "must be an object: call s3Storage({ bucket: '…' })" },
);

/**
 * Check the options as written (before `${env:…}` resolution). Throws
 * `CAIRN_PLUGIN_OPTIONS_INVALID` naming the option.
 */
export function validateOptions(options: unknown): asserts options is S3StorageOptions {
  // Called with nothing, the one required option is what is missing.
  parsePluginOptions(PLUGIN, Options, options ?? {}, { secret: ['credentials'] });
}

/** Resolve `${env:…}` references (throws `CAIRN_CONFIG_ENV_MISSING`) and apply defaults. */
export function resolveOptions(
  options: S3StorageOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const resolved = resolveEnvRefs(options, env);
  const via = (key: keyof S3StorageOptions) => (isRef(options[key]) ? `(from ${String(options[key])}) ` : '');
  const check = (option: string, problem: string | undefined) => {
    if (problem) throw invalid(option, `${via(option as keyof S3StorageOptions)}${problem}`);
  };
  check('bucket', bucketProblem(resolved.bucket));
  if (resolved.endpoint !== undefined) check('endpoint', endpointProblem(resolved.endpoint));
  const prefix = (resolved.prefix ?? '').replace(/^\/+|\/+$/g, '');
  check('prefix', prefixProblem(prefix));
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
