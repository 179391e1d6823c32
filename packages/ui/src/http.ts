/**
 * Request checks shared by every page: which query keys a page takes and
 * what each value may look like, so that a malformed request is answered with
 * a coded 4xx page before anything is read.
 */
import { CairnError, type ErrorCode, ErrorCodes } from '@cairn/core';

/** HTTP status per error code; anything else is a 500. */
const STATUS: Partial<Record<string, number>> = {
  [ErrorCodes.USAGE]: 400,
  [ErrorCodes.ARTIFACT_KEY_INVALID]: 400,
  [ErrorCodes.DEPLOY_INVALID]: 400,
  [ErrorCodes.EXPERIMENT_INVALID]: 400,
  [ErrorCodes.UI_UNAUTHORIZED]: 401,
  [ErrorCodes.UI_READ_ONLY]: 403,
  [ErrorCodes.METADATA_NOT_FOUND]: 404,
  [ErrorCodes.ARTIFACT_NOT_FOUND]: 404,
  [ErrorCodes.DEPLOYMENT_NOT_FOUND]: 404,
  [ErrorCodes.EXPERIMENT_NOT_FOUND]: 404,
  [ErrorCodes.REGISTRY_CONFLICT]: 409,
};

export function statusFor(code: string | undefined): number {
  return (code && STATUS[code]) || 500;
}

export function badRequest(message: string, hint?: string, code: ErrorCode = ErrorCodes.USAGE): CairnError {
  return new CairnError(code, message, hint ? { hint } : {});
}

export function notFound(message: string, hint?: string, code: ErrorCode = ErrorCodes.METADATA_NOT_FOUND) {
  return new CairnError(code, message, hint ? { hint } : {});
}

type Check = (value: string, key: string) => unknown;

export const RUN_ID = /^r_[0-9a-z]{4,64}$/i;
export const DIGEST = /^[0-9a-f]{64}$/;
/** Pipeline, env, step, model, endpoint and experiment names: printable, bounded. */
const NAME = /^[\w.:@/+-]{1,200}$/;

export const checks = {
  name: (value: string, key: string) => {
    if (!NAME.test(value))
      throw badRequest(
        `Malformed ${key} "${clip(value)}": expected letters, digits and . _ - : @ / + (at most 200)`,
      );
    return value;
  },
  runId: (value: string, key: string) => {
    if (!RUN_ID.test(value))
      throw badRequest(
        `Malformed run id in ${key}: "${clip(value)}"`,
        'Run ids look like r_0mwyul89y00008cfa59e5.',
      );
    return value;
  },
  digest: (value: string, key: string) => {
    if (!DIGEST.test(value))
      throw badRequest(
        `Malformed digest in ${key}: "${clip(value)}" is not 64 hex characters`,
        undefined,
        ErrorCodes.ARTIFACT_KEY_INVALID,
      );
    return value;
  },
  int:
    (min: number, max: number): Check =>
    (value, key) => {
      if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max)
        throw badRequest(`Malformed ${key} "${clip(value)}": expected a whole number from ${min} to ${max}`);
      return Number(value);
    },
  oneOf:
    (options: readonly string[]): Check =>
    (value, key) => {
      if (!options.includes(value))
        throw badRequest(`Malformed ${key} "${clip(value)}": expected one of ${options.join(', ')}`);
      return value;
    },
  commit: (value: string, key: string) => {
    if (!/^[0-9a-f]{4,40}$/i.test(value))
      throw badRequest(`Malformed ${key} "${clip(value)}": expected 4 to 40 hex characters of a git commit`);
    return value.toLowerCase();
  },
  tag: (value: string, key: string) => {
    const match = /^([\w.:-]{1,100})=(.{0,200})$/.exec(value);
    if (!match) throw badRequest(`Malformed ${key} "${clip(value)}": expected key=value`);
    return { key: match[1]!, value: match[2]! };
  },
  text:
    (max: number): Check =>
    (value, key) => {
      if (value.length > max) throw badRequest(`${key} is longer than ${max} characters`);
      return value;
    },
};

/**
 * Read a query object against the keys a page takes. Unknown keys, repeated
 * keys and malformed values are errors: a typo in a filter must not silently
 * show every run.
 */
export function parseQuery<T extends Record<string, Check>>(
  query: unknown,
  spec: T,
): { [K in keyof T]?: ReturnType<T[K]> } {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    const check = spec[key];
    if (!check) {
      throw badRequest(
        `Unknown query parameter "${clip(key)}"`,
        `This page takes: ${Object.keys(spec).join(', ') || 'no parameters'}.`,
      );
    }
    if (typeof raw !== 'string') throw badRequest(`Query parameter "${key}" is given more than once`);
    if (raw === '') continue;
    out[key] = check(raw, key);
  }
  return out as { [K in keyof T]?: ReturnType<T[K]> };
}

const clip = (value: string) => (value.length > 80 ? `${value.slice(0, 80)}…` : value);
