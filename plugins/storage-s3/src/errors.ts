import { CairnError, ErrorCodes } from '@cairn/core';

/** Where a request went, for messages: never carries credentials. */
export interface Target {
  endpoint: string;
  bucket: string;
  secrets: readonly string[];
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

/** The S3 error code or Node network code of an error, looking through `cause`. */
export function errorCode(error: unknown): string | undefined {
  for (let e: any = error, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (typeof e.Code === 'string') return e.Code;
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string' && e.name !== 'Error' && e.$metadata) return e.name;
  }
  return undefined;
}

export function httpStatus(error: unknown): number | undefined {
  return (error as any)?.$metadata?.httpStatusCode ?? (error as any)?.$response?.statusCode;
}

export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return (
    code === 'NoSuchKey' || code === 'NotFound' || (httpStatus(error) === 404 && code !== 'NoSuchBucket')
  );
}

/** Throttling, 5xx and dropped connections: worth another attempt. */
export function isTransient(error: unknown): boolean {
  const status = httpStatus(error);
  const code = errorCode(error) ?? '';
  return (
    (status !== undefined && (status >= 500 || status === 429)) ||
    NETWORK_CODES.has(code) ||
    /Throttl|SlowDown|RequestTimeout|InternalError|ServiceUnavailable|TimeoutError/.test(code) ||
    (error as any)?.$retryable !== undefined
  );
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** What went wrong, in words a user can act on. */
function reason(error: unknown, target: Target): string {
  const code = errorCode(error);
  const status = httpStatus(error);
  if (code === 'NoSuchBucket') return `bucket "${target.bucket}" does not exist`;
  if (code && CREDENTIAL_CODES.has(code)) {
    return `the server refused the credentials (${code}): check the access key id and secret access key`;
  }
  if (code === 'AccessDenied' || status === 403) {
    return `access denied (${code ?? 'HTTP 403'}): the credentials were refused or lack permission on bucket "${target.bucket}"`;
  }
  if (code && NETWORK_CODES.has(code)) return `cannot reach the server (${code})`;
  if (code === 'TimeoutError' || code === 'RequestTimeout') return `the request timed out (${code})`;
  const message = (error as any)?.message;
  const detail = typeof message === 'string' && message && message !== 'UnknownError' ? message : undefined;
  return [code, status ? `HTTP ${status}` : undefined, detail].filter(Boolean).join(': ') || String(error);
}

/**
 * Turn an SDK or network failure into `CAIRN_STORAGE_FAILED` naming the
 * operation, endpoint and bucket. The SDK error is kept as `cause` with the
 * secrets scrubbed from its message.
 */
export function storageFailed(operation: string, error: unknown, target: Target): CairnError {
  if (CairnError.is(error)) return error;
  const text = scrub(reason(error, target), target.secrets);
  if (error instanceof Error && target.secrets.length > 0)
    error.message = scrub(error.message, target.secrets);
  const code = errorCode(error);
  const hint =
    code === 'NoSuchBucket'
      ? `Create the bucket, or fix the "bucket" option.`
      : code && (CREDENTIAL_CODES.has(code) || code === 'AccessDenied')
        ? 'Check the credentials (the "credentials" option or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).'
        : code && NETWORK_CODES.has(code)
          ? `Check that the S3 server at ${target.endpoint} is running and reachable.`
          : undefined;
  return new CairnError(
    ErrorCodes.STORAGE_FAILED,
    `S3 ${operation} failed at ${target.endpoint} (bucket "${target.bucket}"): ${text}`,
    {
      cause: error,
      ...(hint ? { hint } : {}),
      context: { endpoint: target.endpoint, bucket: target.bucket },
    },
  );
}
