import { CairnError, ErrorCodes } from '@cairn/core';
import type { Endpoint } from './options';

/** SQLSTATEs worth retrying the whole transaction for: they say "try again", not "you are wrong". */
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string })?.code ?? '');
}

/** True when the connection itself is unusable and must not go back to the pool. */
export function isConnectionBroken(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  if (/^(08|57P)/.test(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|ECONNRESET|EPIPE|not queryable|timeout expired|Query read timeout/i.test(
    message,
  );
}

/**
 * Turn whatever `pg` or the network threw into a `CairnError` that names the
 * server (host:port/database) and says what to do. The password is removed from
 * every message, including the cause's, in case a driver ever echoes it.
 */
export function toCairnError(
  error: unknown,
  endpoint: Endpoint,
  options: { connectTimeoutMs: number; statementTimeoutMs: number },
): CairnError {
  if (CairnError.is(error)) return error;
  const err = error as { code?: string; message?: string; errno?: string };
  const code = err?.code ?? '';
  const raw = redact(err?.message ?? String(error), endpoint.password);
  const at = `PostgreSQL at ${endpoint.label}`;
  let message: string;
  let hint: string | undefined;
  if (code === 'ECONNREFUSED') {
    message = `${at} refused the connection`;
    hint = 'Is the server running and listening on that host and port?';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    message = `${at}: host ${endpoint.host} was not found`;
    hint = 'Check the host name in the connection string.';
  } else if (code === 'ETIMEDOUT' || /timeout expired|connection timeout/i.test(raw)) {
    message = `${at} did not answer within ${options.connectTimeoutMs} ms`;
    hint = 'Check that the server is reachable from here (firewall, VPN) or raise connectTimeoutMs.';
  } else if (code === '28P01' || code === '28000') {
    message = `${at} rejected the credentials of user "${endpoint.user}"`;
    hint = 'Check the user and password in the connection string (or PGPASSWORD).';
  } else if (code === '3D000') {
    message = `${at}: database "${endpoint.database}" does not exist`;
    hint = `Create it (createdb ${endpoint.database}) or fix the database name in the connection string.`;
  } else if (code === '57014') {
    message = `${at}: a statement ran longer than statementTimeoutMs (${options.statementTimeoutMs} ms) and was cancelled`;
  } else if (code === '42501') {
    message = `${at}: user "${endpoint.user}" lacks a permission Cairn needs: ${raw}`;
    hint = 'Grant the user CREATE on the database (for the schema) or create the schema for it.';
  } else if (code === 'ECONNRESET' || /^(08|57P)/.test(code) || /Connection terminated/i.test(raw)) {
    message = `${at} closed the connection: ${raw}`;
  } else {
    message = `${at} failed: ${raw}${code ? ` (${code})` : ''}`;
  }
  return new CairnError(ErrorCodes.METADATA_FAILED, message, {
    cause: sanitize(error, endpoint.password),
    ...(hint ? { hint } : {}),
    context: { endpoint: endpoint.label },
  });
}

export function redact(text: string, password: string | undefined): string {
  if (!password) return text;
  return text.split(password).join('***').split(encodeURIComponent(password)).join('***');
}

function sanitize(error: unknown, password: string | undefined): unknown {
  if (!(error instanceof Error) || !password) return error;
  const clean = new Error(redact(error.message, password));
  clean.name = error.name;
  for (const key of [
    'code',
    'errno',
    'syscall',
    'address',
    'port',
    'severity',
    'detail',
    'routine',
  ] as const) {
    const value = (error as any)[key];
    if (value !== undefined)
      (clean as any)[key] = typeof value === 'string' ? redact(value, password) : value;
  }
  if (error.stack) clean.stack = redact(error.stack, password);
  return clean;
}
