/**
 * The HTTP face of the local deployer (node:http, JSON in and out). Every
 * failure is answered as `{ error: { code, message } }`; nothing a client
 * sends can take the server down.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError, type Deployer, ENDPOINT_NAME, ErrorCodes } from '@cairn/core';
import type { OutcomeAnswer, OutcomeRequest } from './exposures';

/** The deployer the server fronts, with the outcome intake of canary experiments. */
type ServedDeployer = Deployer & {
  recordOutcome(endpoint: string, outcome: OutcomeRequest): Promise<OutcomeAnswer>;
  renderMetrics(): Promise<{ contentType: string; text: string } | undefined>;
};

/** What the server needs from the deployer's options. */

/** How long a stopping server waits for the requests in flight before it cuts their connections. */
export const CLOSE_GRACE_MS = 10_000;

export interface ServerSettings {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** Most rows one predict request may hold (HTTP 413 beyond). */
  maxRows: number;
  /** Resolved; without it outcomes are taken from loopback clients only. */
  outcomesToken?: string;
}

/** Longest unit or event id taken: ids are keys, not payloads. */
export const MAX_ID_LENGTH = 256;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Start listening; resolves once the port is bound, with the base URL and a way to stop. */
export async function startServer(
  deployer: ServedDeployer,
  settings: ServerSettings,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    handle(deployer, settings, req, res).catch((error) => sendError(res, error));
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new CairnError(
          ErrorCodes.DEPLOY_FAILED,
          `local deployer cannot listen on ${settings.host}:${settings.port}: ${error.message}`,
          {
            cause: error,
            hint: error.code === 'EADDRINUSE' ? 'choose another port, or port 0 for a free one' : undefined,
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(settings.port, settings.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // A graceful stop: no new connections, and requests already in flight (a slow upload
        // included) are answered; each connection is closed once it falls idle, since an idle
        // keep-alive one would hold close() open until it timed out. One still busy after
        // CLOSE_GRACE_MS is cut.
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

async function handle(
  deployer: ServedDeployer,
  settings: ServerSettings,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  // A request target of '//v1//…' is a path: resolved against a base alone, its '//' would read as a host.
  const target = req.url ?? '/';
  const path = new URL(target.startsWith('/') ? `http://localhost${target}` : target, 'http://localhost')
    .pathname;
  const parts = path.split('/').filter((part) => part !== '');
  const allow = (allowed: string) => {
    if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
      throw new HttpError(405, ErrorCodes.USAGE, `${method} is not allowed on ${path}: use ${allowed}`, {
        allow: allowed === 'GET' ? 'GET, HEAD' : allowed,
      });
    }
  };

  if (parts.length === 1 && parts[0] === 'healthz') {
    allow('GET');
    return send(res, 200, { status: 'ok', endpoints: (await deployer.list()).length });
  }
  if (parts.length === 1 && parts[0] === 'metrics') {
    allow('GET');
    const metrics = await deployer.renderMetrics();
    if (!metrics)
      throw new HttpError(404, ErrorCodes.USAGE, 'metrics are off on this server (option metrics: false)');
    res.statusCode = 200;
    res.setHeader('content-type', metrics.contentType);
    res.setHeader('content-length', Buffer.byteLength(metrics.text));
    res.end(method === 'HEAD' ? undefined : metrics.text);
    return;
  }
  if (parts[0] !== 'v1' || parts[1] !== 'endpoints' || parts.length > 4) throw unknownPath(method, path);
  if (parts.length === 2) {
    allow('GET');
    return send(res, 200, { endpoints: await deployer.list() });
  }
  const action = parts[3];
  if (action !== undefined && action !== 'health' && action !== 'predict' && action !== 'outcomes')
    throw unknownPath(method, path);
  allow(action === 'predict' || action === 'outcomes' ? 'POST' : 'GET');
  const name = decodeName(parts[2]!);
  const notDeployed = () =>
    new HttpError(
      404,
      ErrorCodes.DEPLOYMENT_NOT_FOUND,
      `no endpoint named ${JSON.stringify(name ?? parts[2])} is deployed`,
    );
  if (name === undefined) throw notDeployed();
  // A prediction finds its endpoint in memory (and answers 404 itself); reading
  // the state file first cost a stat per request, most of the server's overhead.
  if (action !== 'predict') {
    const deployment = await deployer.status(name);
    if (!deployment) throw notDeployed();
    if (action === undefined) return send(res, 200, deployment);
  }
  if (action === 'health') {
    const health = await deployer.health(name);
    return send(res, health.status === 'unavailable' ? 503 : 200, health);
  }

  if (action === 'outcomes') authorizeOutcome(req, settings.outcomesToken);
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(
      415,
      ErrorCodes.DATA_INVALID,
      `expected content-type application/json, got ${JSON.stringify(type || 'none')}`,
    );
  }
  const body = await readJson(req, res, settings.maxBodyBytes);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      ErrorCodes.DATA_INVALID,
      action === 'outcomes'
        ? 'the body must be a JSON object { "unitId", "value", "eventId" }'
        : 'the body must be a JSON object { "rows": [...] }',
    );
  }
  if (action === 'outcomes') {
    const answer = await outcome(deployer, name, body);
    // 202: taken now; 200: a replay of an event id already taken, which changes nothing.
    return send(res, answer.recorded ? 202 : 200, answer);
  }
  const { rows, unitId } = body as { rows?: unknown; unitId?: unknown };
  if (rows === undefined) throw new HttpError(400, ErrorCodes.DATA_INVALID, 'the body has no "rows"');
  if (!Array.isArray(rows)) throw new HttpError(400, ErrorCodes.DATA_INVALID, '"rows" must be an array');
  if (rows.length > settings.maxRows) {
    throw new HttpError(
      413,
      ErrorCodes.DATA_INVALID,
      `"rows" holds ${rows.length} rows, more than the ${settings.maxRows} one request may (option maxRows): send them in several requests`,
    );
  }
  if (unitId !== undefined && typeof unitId !== 'string') {
    throw new HttpError(400, ErrorCodes.DATA_INVALID, '"unitId" must be a string');
  }
  const result = await deployer.predict(name, rows, unitId === undefined ? {} : { unitId });
  res.setHeader('x-cairn-model-version', String(result.served.version));
  return send(res, 200, {
    predictions: result.predictions,
    model: result.served.model,
    version: result.served.version,
    revision: result.revision,
    role: result.role,
  });
}

const isLoopback = (address: string | undefined) =>
  address !== undefined &&
  (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));

const digestOf = (text: string) => createHash('sha256').update(text).digest();

/**
 * Outcomes steer canary decisions, so who may send them is checked before
 * the body is read: with a token, every client sends it; without one, only
 * loopback clients are taken (a server bound to 0.0.0.0 is not open to the
 * network by accident).
 */
function authorizeOutcome(req: IncomingMessage, token: string | undefined): void {
  if (token === undefined) {
    if (isLoopback(req.socket.remoteAddress)) return;
    throw new HttpError(
      403,
      ErrorCodes.UNAUTHORIZED,
      'outcomes are taken from loopback only: set outcomesToken in the deployer options to take them from other machines',
    );
  }
  const header = req.headers.authorization ?? '';
  const sent = /^Bearer (.+)$/i.exec(header)?.[1] ?? '';
  // Compared as digests: equal lengths for timingSafeEqual, and no early exit on the first differing byte.
  if (!timingSafeEqual(digestOf(sent), digestOf(token))) {
    throw new HttpError(
      401,
      ErrorCodes.UNAUTHORIZED,
      header === ''
        ? 'outcomes need "authorization: Bearer <token>"'
        : 'the outcomes token is not the one this server takes',
      { 'www-authenticate': 'Bearer' },
    );
  }
}

/** `POST /v1/endpoints/<name>/outcomes` `{ unitId, value, eventId, metric? }`: an outcome for the canary's experiment. */
async function outcome(deployer: ServedDeployer, name: string, body: object): Promise<OutcomeAnswer> {
  const { unitId, value, metric, eventId } = body as Record<string, unknown>;
  const bad = (message: string) => new HttpError(400, ErrorCodes.DATA_INVALID, message);
  const id = (value: unknown, key: string) => {
    if (typeof value !== 'string' || value === '') throw bad(`"${key}" must be a non-empty string`);
    if (value.length > MAX_ID_LENGTH) throw bad(`"${key}" is longer than ${MAX_ID_LENGTH} characters`);
    return value;
  };
  const request: OutcomeRequest = {
    unitId: id(unitId, 'unitId'),
    value: 0,
    // Required: without it a client's retry after a lost answer would count twice.
    eventId: id(eventId, 'eventId'),
  };
  if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('"value" must be a finite number');
  request.value = value;
  if (metric !== undefined) {
    if (typeof metric !== 'string' || metric === '' || metric.length > 100) {
      throw bad('"metric" must be a metric name of at most 100 characters');
    }
    request.metric = metric;
  }
  try {
    return await deployer.recordOutcome(name, request);
  } catch (error) {
    if (CairnError.is(error) && error.code === ErrorCodes.EXPERIMENT_NOT_FOUND)
      throw new HttpError(404, error.code, error.message);
    if (CairnError.is(error) && error.code === ErrorCodes.EXPERIMENT_INVALID)
      throw new HttpError(
        error.context?.outcome === 'unit-not-exposed' ? 409 : 400,
        error.code,
        error.message,
      );
    throw error;
  }
}

function decodeName(segment: string): string | undefined {
  try {
    const name = decodeURIComponent(segment);
    return ENDPOINT_NAME.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

const unknownPath = (method: string, path: string) =>
  new HttpError(404, ErrorCodes.USAGE, `no route ${method} ${path} (see GET /v1/endpoints)`);

/**
 * Read a JSON body up to `limit` bytes. Past the limit it stops keeping
 * bytes and answers 413 at once; the rest of the upload is discarded, then
 * the connection is closed (a client that keeps sending gets cut off).
 */
async function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  const tooLarge = () => {
    res.setHeader('connection', 'close');
    // Give a well-behaved client time to finish sending and read the 413, then cut the connection.
    const cutoff = setTimeout(() => req.socket.destroy(), 2000);
    cutoff.unref();
    req.on('end', () => clearTimeout(cutoff));
    return new HttpError(413, ErrorCodes.DATA_INVALID, `the body is larger than ${limit} bytes`);
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const text = await new Promise<string | undefined>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
  if (text === undefined) throw tooLarge();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      ErrorCodes.DATA_INVALID,
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function sendError(res: ServerResponse, error: unknown): void {
  let status = 500;
  let code: string = ErrorCodes.DEPLOY_FAILED;
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof HttpError) {
    status = error.status;
    code = error.code;
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  } else if (CairnError.is(error)) {
    code = error.code;
    status =
      error.code === ErrorCodes.DEPLOYMENT_NOT_FOUND
        ? 404
        : error.code === ErrorCodes.DATA_INVALID || error.code === ErrorCodes.DEPLOY_INVALID
          ? 400
          : 500;
  } else {
    message = `internal error: ${message}`;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.removeHeader('x-cairn-model-version');
  send(res, status, { error: { code, message } });
}
