/**
 * `startUi`: the dashboard over a project's already opened stack. A fastify
 * server renders every page on the server with eta (HTML-escaped by
 * default), lays pipeline and lineage graphs out with dagre, and sends run
 * updates as server-sent events. Nothing is fetched from outside: the few
 * scripts and the chart library are served from this package and its
 * dependencies.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AbTestEngine,
  type ArtifactRecord,
  CairnError,
  type Deployer,
  ErrorCodes,
  type ExecutionRecord,
  type MetadataStore,
  type ModelStage,
  type Pipeline,
  type RunRecord,
  type StorageDriver,
} from '@cairn/core';
import { materializeArtifact, readStepLog, type StepLog } from '@cairn/runtime';
import { type DriftReport, isDriftReport } from '@cairn/tabular';
import { Eta } from 'eta';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  compareRuns,
  readBytes,
  readJson,
  runConfigs,
  runMetrics,
  runsPage,
  runView,
  type StepView,
} from './data';
import type { PlacedGraph } from './graph';
import { badRequest, checks, notFound, parseQuery, RUN_ID, statusFor } from './http';
import { createLayouts, type LayoutEvent } from './layout';
import { runEvents } from './live';

export interface UiOptions {
  /** The project's opened metadata store; the dashboard only reads it unless `actions` is on. */
  metadata: MetadataStore;
  /** The project's opened artifact storage (read only). */
  storage: StorageDriver;
  /**
   * The stack's deployer in control mode, for the endpoints page and rollback;
   * or a function that opens it, called on the first visit that needs it (opening
   * may create the deployer's state folder, which a dashboard nobody asks about
   * endpoints should not do).
   */
  deployer?: Deployer | (() => Promise<Deployer>);
  /** The stack's A/B engine, for the experiments page and conclude; or a function that opens it on first use. */
  abtest?: AbTestEngine | (() => Promise<AbTestEngine>);
  /** The project's pipelines by name: their definitions draw the graph of steps not run yet. */
  pipelines?: ReadonlyMap<string, Pipeline>;
  /** Shown in the header. */
  project?: { name: string; env: string; dir?: string };
  /**
   * The project's state folder (`.cairn`), where runs keep each execution's
   * log (`<stateDir>/logs`): the step page shows it. Without it, no logs.
   */
  stateDir?: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 4300 */
  port?: number;
  /**
   * Required when `host` is not a loopback address: every request must carry
   * it (`Authorization: Bearer <token>`, or `?token=` once, which sets a cookie).
   */
  token?: string;
  /** Allow promote, rollback and conclude from the pages. @default false (read-only) */
  actions?: boolean;
  /** Who the registry records for a promotion made from the dashboard. @default 'cairn-ui' */
  actor?: string;
  /** How often a live run page polls the metadata store, in ms. @default 500 */
  pollMs?: number;
  /**
   * Serve `/__static?bytes=N`, a static page of N bytes with the same
   * stylesheet: the floor `bench/ui.mjs` compares page renders with.
   * @default false
   */
  floorPage?: boolean;
  /**
   * Hears each graph layout start and finish (and where it ran: the layout
   * thread or inline): for tests and benchmarks that watch the server stay
   * responsive while a large graph is laid out.
   */
  onLayout?: (event: LayoutEvent) => void;
}

export interface UiServer {
  /** The dashboard's address, with the token when one is required. */
  url: string;
  close(): Promise<void>;
}

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
const STAGES = ['none', 'staging', 'production', 'archived'] as const;
/** Previews read at most this much of an artifact. */
const PREVIEW_BYTES = 256 * 1024;

/** Files the pages load, each from this package or a dependency: nothing from a CDN. */
function assetFiles(): Record<string, { path: string; type: string }> {
  const own = (name: string) => join(PACKAGE_DIR, 'assets', name);
  const uplot = dirname(require.resolve('uplot/package.json'));
  return {
    'ui.css': { path: own('ui.css'), type: 'text/css; charset=utf-8' },
    'run.js': { path: own('run.js'), type: 'text/javascript; charset=utf-8' },
    'charts.js': { path: own('charts.js'), type: 'text/javascript; charset=utf-8' },
    'uplot.js': { path: join(uplot, 'dist', 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    'uplot.css': { path: join(uplot, 'dist', 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
}

export const fmt = {
  duration(ms: number | undefined): string {
    if (ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    const m = Math.floor(ms / 60_000);
    return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
  },
  time: (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '—'),
  bytes(n: number | undefined): string {
    if (n === undefined) return '—';
    if (n < 1024) return `${n} B`;
    if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
    if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
    return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  },
  short: (digest: string) => digest.slice(0, 12),
  num(value: unknown): string {
    if (typeof value !== 'number') return value === undefined ? '—' : JSON.stringify(value);
    if (Number.isNaN(value)) return 'n/a';
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 1e4 || Math.abs(value) < 1e-3 ? value.toExponential(3) : value.toFixed(4);
  },
  value: (value: unknown) =>
    typeof value === 'string' ? value : value === undefined ? '—' : JSON.stringify(value),
  runTime(run: RunRecord): number | undefined {
    return run.finishedAt ? Date.parse(run.finishedAt) - Date.parse(run.startedAt) : undefined;
  },
};

/** Start the dashboard. Resolves once it listens. */
export async function startUi(options: UiOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const loopback = LOOPBACK.has(host);
  if (!loopback && !options.token) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `The dashboard binds ${host}, which is not loopback, and no token was given`,
      {
        hint: 'Set a token (cairn ui --token-env NAME reads it from that environment variable), or bind 127.0.0.1.',
      },
    );
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new CairnError(ErrorCodes.USAGE, 'The dashboard token is shorter than 16 characters', {
      hint: 'Use a long random value, e.g. `openssl rand -hex 24`.',
    });
  }
  const { metadata, storage } = options;
  const stores = { metadata, storage };
  const deployerOf = once(options.deployer);
  const abtestOf = once(options.abtest);
  const actions = options.actions === true;
  // A random per-process value each action form carries: another site cannot post one.
  const formKey = randomBytes(18).toString('hex');
  const eta = new Eta({ views: join(PACKAGE_DIR, 'views'), autoEscape: true, cache: true, autoTrim: false });
  const assets = assetFiles();
  const assetCache = new Map<string, Buffer>();
  const layouts = createLayouts(options.onLayout);
  // Tree artifacts (reports, models) are unpacked here to serve their files: outside the project, removed on close.
  const scratch = await mkdtemp(join(tmpdir(), 'cairn-ui-'));
  const unpacked = new Map<string, Promise<string>>();

  // Closing ends every connection, kept-alive browsers and event streams included, at once.
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: 300 },
    bodyLimit: 64 * 1024,
    forceCloseConnections: true,
  });
  const streams = new Set<() => void>();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const page = (reply: FastifyReply, view: string, data: Record<string, unknown>, status = 200) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
      )
      .header('x-content-type-options', 'nosniff')
      .send(
        eta.render(view, { ...data, fmt, project: options.project, actions, formKey, nav: data.nav ?? '' }),
      );

  // Paths with `..` never reach a route: no page or file lies above another.
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    let decoded = path;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw badRequest('Malformed percent-encoding in the path');
    }
    if (decoded.split(/[\\/]/).includes('..')) {
      throw badRequest(
        `The path "${decoded.slice(0, 120)}" contains "..": no page lies above another`,
        undefined,
        ErrorCodes.ARTIFACT_KEY_INVALID,
      );
    }
  });

  if (options.token) {
    const expected = Buffer.from(options.token);
    const matches = (given: string | undefined) => {
      if (!given) return false;
      const value = Buffer.from(given);
      return value.length === expected.length && timingSafeEqual(value, expected);
    };
    app.addHook('onRequest', async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const cookie = /(?:^|;\s*)cairn_ui_token=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
      if (typeof query.token === 'string' && matches(query.token)) {
        // Trade the token in the URL for a cookie, so it leaves the address bar and the history.
        const url = new URL(request.url, 'http://x');
        url.searchParams.delete('token');
        reply
          .header(
            'set-cookie',
            `cairn_ui_token=${encodeURIComponent(options.token ?? '')}; HttpOnly; SameSite=Strict; Path=/`,
          )
          .redirect(`${url.pathname}${url.search}`, 303);
        return reply;
      }
      if (!matches(bearer) && !matches(cookie ? decodeURIComponent(cookie) : undefined)) {
        throw new CairnError(ErrorCodes.UI_UNAUTHORIZED, 'This dashboard requires its token', {
          hint: 'Open the URL `cairn ui` printed (it carries the token once), or send Authorization: Bearer <token>.',
        });
      }
    });
  }

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const cairn = CairnError.is(error);
    let status = cairn ? statusFor(error.code) : (error.statusCode ?? 500);
    let code: string = cairn ? error.code : ErrorCodes.USAGE;
    let message = error.message;
    if (!cairn && status < 500) {
      // fastify's own refusals (a malformed body, an unsupported media type) are bad requests too.
      message = `Bad request: ${error.message}`;
    } else if (!cairn) {
      code = ErrorCodes.UI_INTERNAL;
      status = 500;
    }
    const hint = cairn ? (error as CairnError).hint : undefined;
    if (request.headers.accept === 'text/event-stream')
      return reply.code(status).type('text/plain').send(`${code}: ${message}`);
    return page(reply, 'error', { title: `${status} ${code}`, status, code, message, hint }, status);
  });
  app.setNotFoundHandler((request, reply) =>
    page(
      reply,
      'error',
      {
        title: '404 CAIRN_USAGE',
        status: 404,
        code: ErrorCodes.USAGE,
        message: `No page at ${request.method} ${request.url.split('?')[0]}`,
        hint: 'Start from the runs page.',
      },
      404,
    ),
  );

  app.get('/assets/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const asset = assets[file];
    if (!asset) throw notFound(`No asset "${file}"`, undefined, ErrorCodes.USAGE);
    let body = assetCache.get(file);
    if (!body) {
      body = readFileSync(asset.path);
      assetCache.set(file, body);
    }
    return reply.type(asset.type).header('cache-control', 'public, max-age=3600').send(body);
  });

  app.get('/', async (_request, reply) => reply.redirect('/runs', 302));

  // For a load balancer or a script waiting for the dashboard: answers while graphs are being laid out.
  app.get('/healthz', async (request, reply) => {
    parseQuery(request.query, {});
    return reply.header('cache-control', 'no-store').send({ status: 'ok' });
  });

  // ---------------------------------------------------------------- runs
  app.get('/runs', async (request, reply) => {
    const q = parseQuery(request.query, {
      pipeline: checks.name,
      env: checks.name,
      status: checks.oneOf(RUN_STATUSES),
      commit: checks.commit,
      tag: checks.tag,
      before: checks.runId,
      limit: checks.int(1, 200),
    });
    const filters = {
      ...(q.pipeline ? { pipeline: q.pipeline as string } : {}),
      ...(q.env ? { env: q.env as string } : {}),
      ...(q.status ? { status: q.status as (typeof RUN_STATUSES)[number] } : {}),
      ...(q.commit ? { commit: q.commit as string } : {}),
      ...(q.tag ? { tag: q.tag as { key: string; value: string } } : {}),
      ...(q.before ? { before: q.before as string } : {}),
      limit: (q.limit as number | undefined) ?? 50,
    };
    const result = await runsPage(metadata, filters);
    const raw = request.query as Record<string, string>;
    const keep = Object.fromEntries(Object.entries(raw).filter(([k, v]) => k !== 'before' && v !== ''));
    const link = (extra: Record<string, string>) => `/runs?${new URLSearchParams({ ...keep, ...extra })}`;
    return page(reply, 'runs', {
      title: 'Runs',
      nav: 'runs',
      result,
      filters: raw,
      statuses: RUN_STATUSES,
      nextHref: result.next ? link({ before: result.next }) : undefined,
      firstHref: filters.before ? link({}) : undefined,
    });
  });

  const requireRun = async (id: string): Promise<RunRecord> => {
    checks.runId(id, 'the path');
    const run = await metadata.getRun(id);
    if (!run)
      throw notFound(`No run "${id}" in this project's metadata store`, 'Pick one from the runs page.');
    return run;
  };

  const graphFor = async (view: Awaited<ReturnType<typeof runView>>): Promise<PlacedGraph> => {
    const nodes = view.steps.map((s) => ({
      id: s.name,
      label: s.name,
      detail: stepDetail(s),
      kind: s.state,
      href: `/runs/${view.run.id}/steps/${encodeURIComponent(s.name)}`,
    }));
    // Sized for the longest detail a node can show, so live updates never overflow a box, and so
    // every run of one pipeline shape shares one cached layout.
    const placed = await layouts.layout(
      nodes.map((n) => ({ ...n, detail: 'succeeded · config-changed · 00.0 s' })),
      view.edges,
    );
    const byId = new Map(nodes.map((n) => [n.id, n]));
    return { ...placed, nodes: placed.nodes.map((n) => ({ ...n, ...byId.get(n.id)! })) };
  };

  app.get('/runs/:id', async (request, reply) => {
    parseQuery(request.query, {});
    const run = await requireRun((request.params as { id: string }).id);
    const view = await runView(metadata, run, options.pipelines);
    const reports = view.steps.flatMap((s) =>
      Object.entries(s.execution?.outputs ?? {})
        .filter(([, ref]) => ref.type === 'report')
        .map(([output, ref]) => ({ step: s.name, output, ref })),
    );
    const metrics = await runMetrics(stores, run);
    return page(reply, 'run', {
      title: `Run ${run.id}`,
      nav: 'runs',
      run,
      view,
      graph: await graphFor(view),
      reports,
      metrics,
      live: run.status === 'running',
    });
  });

  app.get('/runs/:id/steps/:step', async (request, reply) => {
    parseQuery(request.query, {});
    const params = request.params as { id: string; step: string };
    const run = await requireRun(params.id);
    checks.name(params.step, 'step');
    const view = await runView(metadata, run, options.pipelines);
    const step = view.steps.find((s) => s.name === params.step);
    if (!step)
      throw notFound(
        `Run ${run.id} has no step "${params.step}"`,
        `Its steps: ${view.steps
          .map((s) => s.name)
          .slice(0, 20)
          .join(', ')}`,
      );
    const configs = await runConfigs(storage, run);
    const execution = step.execution;
    const inputs = Object.entries(execution?.inputs ?? {}).map(([name, ref]) => ({ name, ref }));
    const outputs = Object.entries(execution?.outputs ?? {}).map(([name, ref]) => ({ name, ref }));
    const cachedFrom = execution?.cachedFrom ? await metadata.getExecution(execution.cachedFrom) : undefined;
    // A cached step did not run: the log to show is the one of the execution it reused.
    const logged = execution?.status === 'cached' ? cachedFrom : execution;
    let log: StepLog | undefined;
    let logError: string | undefined;
    if (options.stateDir && logged && logged.status !== 'skipped') {
      try {
        log = await readStepLog(options.stateDir, logged.runId, logged.id);
      } catch (error) {
        logError = (error as Error).message;
      }
    }
    return page(reply, 'step', {
      log,
      logError,
      logsKept: Boolean(options.stateDir),
      title: `${step.name} · run ${run.id}`,
      nav: 'runs',
      run,
      step,
      config: configs[step.name],
      configText: configs[step.name] === undefined ? undefined : JSON.stringify(configs[step.name], null, 2),
      inputs,
      outputs,
      cachedFrom,
    });
  });

  app.get('/runs/:id/events', async (request, reply) => {
    parseQuery(request.query, {});
    const run = await requireRun((request.params as { id: string }).id);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const stop = runEvents(metadata, run.id, options.pollMs ?? 500, (event) => {
      raw.write(`event: cairn\ndata: ${JSON.stringify(event)}\n\n`);
      if (event.type === 'run.finished') {
        stop();
        raw.end();
      }
    });
    const end = () => {
      stop();
      streams.delete(end);
      if (!raw.writableEnded) raw.end();
    };
    streams.add(end);
    request.raw.on('close', end);
  });

  // ---------------------------------------------------------------- artifacts
  const requireArtifact = async (digest: string): Promise<ArtifactRecord> => {
    checks.digest(digest, 'the path');
    const record = await metadata.getArtifact(digest);
    if (!record)
      throw notFound(
        `No artifact ${digest.slice(0, 12)}… in this project's metadata store`,
        undefined,
        ErrorCodes.ARTIFACT_NOT_FOUND,
      );
    return record;
  };

  app.get('/artifacts', async (request, reply) => {
    const q = parseQuery(request.query, { type: checks.name, run: checks.runId, limit: checks.int(1, 500) });
    const artifacts = await metadata.listArtifacts({
      ...(q.type ? { type: q.type as string } : {}),
      ...(q.run ? { runId: q.run as string } : {}),
      limit: (q.limit as number | undefined) ?? 100,
    });
    return page(reply, 'artifacts', {
      title: 'Artifacts',
      nav: 'artifacts',
      artifacts,
      filters: request.query,
    });
  });

  app.get('/artifacts/:digest', async (request, reply) => {
    parseQuery(request.query, {});
    const record = await requireArtifact((request.params as { digest: string }).digest);
    const preview = await previewArtifact(record);
    const lineage = await metadata.lineage({ digest: record.digest }, { direction: 'both', depth: 3 });
    const nodes = [
      ...lineage.artifacts.map((a) => ({
        id: a.digest,
        label: a.producer ? `${a.producer.step}.${a.producer.output}` : fmt.short(a.digest),
        detail: `${a.type} · ${fmt.bytes(a.size)}`,
        kind: a.digest === record.digest ? 'artifact current' : 'artifact',
        href: `/artifacts/${a.digest}`,
      })),
      ...lineage.executions.map((e) => ({
        id: e.id,
        label: e.step,
        detail: `${e.status} · ${e.runId.slice(0, 14)}`,
        kind: e.status,
        href: `/runs/${e.runId}/steps/${encodeURIComponent(e.step)}`,
      })),
    ];
    if (!nodes.some((n) => n.id === record.digest))
      nodes.push({
        id: record.digest,
        label: fmt.short(record.digest),
        detail: record.type,
        kind: 'artifact current',
        href: `/artifacts/${record.digest}`,
      });
    const graph = await layouts.layout(nodes.slice(0, 400), lineage.edges, 'LR');
    return page(reply, 'artifact', {
      title: `Artifact ${fmt.short(record.digest)}`,
      nav: 'artifacts',
      record,
      preview,
      graph,
    });
  });

  async function previewArtifact(record: ArtifactRecord): Promise<Record<string, unknown>> {
    try {
      if (record.type === 'metrics')
        return { kind: 'metrics', values: await readJson(storage, record.digest, PREVIEW_BYTES) };
      if (record.type === 'json') {
        const bytes = await readBytes(storage, record.digest, PREVIEW_BYTES);
        const text = Buffer.from(bytes).toString('utf8');
        let pretty = text;
        try {
          pretty = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // Larger than the preview: show the start as it is.
        }
        return { kind: 'json', text: pretty, clipped: record.size > PREVIEW_BYTES };
      }
      if (record.type === 'report') return { kind: 'report' };
      if (record.type === 'model') {
        const dir = await unpack(record);
        const manifest = readFileSync(join(dir, 'manifest.json'), 'utf8');
        return { kind: 'model', manifest: JSON.stringify(JSON.parse(manifest), null, 2) };
      }
      if (record.type === 'table') return { kind: 'table', metadata: record.metadata ?? {} };
    } catch (error) {
      return { kind: 'unreadable', message: (error as Error).message };
    }
    return { kind: 'file' };
  }

  const unpack = (record: ArtifactRecord): Promise<string> => {
    let found = unpacked.get(record.digest);
    if (!found) {
      found = materializeArtifact(storage, record, 'tree', join(scratch, record.digest));
      unpacked.set(record.digest, found);
      found.catch(() => unpacked.delete(record.digest));
    }
    return found;
  };

  app.get('/artifacts/:digest/download', async (request, reply) => {
    parseQuery(request.query, {});
    const record = await requireArtifact((request.params as { digest: string }).digest);
    const stream = await storage.get(record.digest);
    const tree = ['report', 'model', 'dir'].includes(record.type);
    return reply
      .type('application/octet-stream')
      .header(
        'content-disposition',
        `attachment; filename="${record.type}-${record.digest.slice(0, 12)}${tree ? '.tar' : ''}"`,
      )
      .send(stream);
  });

  // A report's files, for the iframe on the run page; the report runs sandboxed, without scripts.
  app.get('/artifacts/:digest/files/*', async (request, reply) => {
    parseQuery(request.query, {});
    const params = request.params as { digest: string; '*': string };
    const record = await requireArtifact(params.digest);
    if (!['report', 'dir', 'model'].includes(record.type))
      throw badRequest(`Artifact ${fmt.short(record.digest)} is a ${record.type}, not a folder`);
    const dir = await unpack(record);
    const file = resolve(dir, params['*'] || 'index.html');
    if (!file.startsWith(dir + sep))
      throw badRequest('The file path leaves the artifact', undefined, ErrorCodes.ARTIFACT_KEY_INVALID);
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      throw notFound(
        `Artifact ${fmt.short(record.digest)} has no file "${params['*']}"`,
        undefined,
        ErrorCodes.ARTIFACT_NOT_FOUND,
      );
    }
    const type = file.endsWith('.html')
      ? 'text/html; charset=utf-8'
      : file.endsWith('.svg')
        ? 'image/svg+xml'
        : file.endsWith('.png')
          ? 'image/png'
          : file.endsWith('.json') || file.endsWith('.md')
            ? 'text/plain; charset=utf-8'
            : 'application/octet-stream';
    return reply
      .type(type)
      .header(
        'content-security-policy',
        "sandbox; default-src 'self' data:; style-src 'self' 'unsafe-inline'",
      )
      .send(body);
  });

  // ---------------------------------------------------------------- compare and metrics
  app.get('/compare', async (request, reply) => {
    const q = parseQuery(request.query, { runs: checks.text(2000) });
    const ids = ((q.runs as string | undefined) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (ids.length < 2 || ids.length > 10) {
      throw badRequest(
        `Compare needs 2 to 10 run ids (runs=a,b), got ${ids.length}`,
        'Tick runs on the runs page, then Compare.',
      );
    }
    for (const id of ids)
      if (!RUN_ID.test(id)) throw badRequest(`Malformed run id "${id.slice(0, 80)}" in runs`);
    const runs = await Promise.all(ids.map((id) => requireRun(id)));
    const comparison = await compareRuns(stores, runs);
    return page(reply, 'compare', { title: 'Compare runs', nav: 'metrics', comparison });
  });

  app.get('/metrics', async (request, reply) => {
    const q = parseQuery(request.query, {
      pipeline: checks.name,
      metric: checks.text(300),
      limit: checks.int(2, 500),
    });
    const recent = await metadata.listRuns({ limit: 500 });
    const counts = new Map<string, number>();
    for (const r of recent) counts.set(r.pipeline, (counts.get(r.pipeline) ?? 0) + 1);
    const pipelines = [...counts.keys()].sort();
    // Without a choice, the pipeline run most often lately: the one a team tracks.
    const pipeline =
      (q.pipeline as string | undefined) ?? [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    const limit = (q.limit as number | undefined) ?? 50;
    const runs = pipeline ? (await metadata.listRuns({ pipeline, limit })).reverse() : [];
    const series = await Promise.all(
      runs.map(async (run) => ({ run, metrics: await runMetrics(stores, run) })),
    );
    const names = [...new Set(series.flatMap((s) => Object.keys(s.metrics)))].sort();
    const metric = (q.metric as string | undefined) ?? names[0];
    if (q.metric && !names.includes(q.metric as string)) {
      throw notFound(
        `No metric "${q.metric}" in the last ${runs.length} runs of ${pipeline}`,
        names.length ? `Metrics: ${names.slice(0, 20).join(', ')}` : 'These runs recorded no metrics.',
      );
    }
    const points = series
      .filter((s) => metric && s.metrics[metric] !== undefined)
      .map((s) => ({ id: s.run.id, at: s.run.startedAt, value: s.metrics[metric!]! }));
    return page(reply, 'metrics', {
      title: 'Metrics over time',
      nav: 'metrics',
      pipelines,
      pipeline,
      names,
      metric,
      points,
      series,
    });
  });

  // ---------------------------------------------------------------- models
  app.get('/models', async (request, reply) => {
    parseQuery(request.query, {});
    const models = await metadata.listModels();
    return page(reply, 'models', { title: 'Models', nav: 'models', models });
  });

  app.get('/models/:model', async (request, reply) => {
    parseQuery(request.query, {});
    const { model } = request.params as { model: string };
    checks.name(model, 'model');
    const versions = await metadata.listModelVersions(model);
    if (versions.length === 0)
      throw notFound(`No registered model "${model}"`, 'The models page lists every registered model.');
    const history = (await metadata.modelHistory(model)).reverse();
    return page(reply, 'model', {
      title: `Model ${model}`,
      nav: 'models',
      model,
      versions,
      history,
      stages: STAGES,
    });
  });

  // ---------------------------------------------------------------- endpoints
  app.get('/endpoints', async (request, reply) => {
    parseQuery(request.query, {});
    const deployer = await deployerOf();
    const endpoints = deployer
      ? await Promise.all(
          (await deployer.list()).map(async (d) => ({
            deployment: d,
            health: await deployer
              .health(d.endpoint)
              .catch((e: Error) => ({ status: 'unavailable', error: e.message, routes: [] })),
            history: (await deployer.history(d.endpoint)).slice(-10).reverse(),
          })),
        )
      : [];
    return page(reply, 'endpoints', {
      title: 'Endpoints',
      nav: 'endpoints',
      hasDeployer: Boolean(deployer),
      endpoints,
    });
  });

  // ---------------------------------------------------------------- experiments
  app.get('/experiments', async (request, reply) => {
    parseQuery(request.query, {});
    const engine = await abtestOf();
    const experiments = engine ? await engine.listExperiments() : [];
    return page(reply, 'experiments', {
      title: 'Experiments',
      nav: 'experiments',
      hasEngine: Boolean(engine),
      experiments,
    });
  });

  app.get('/experiments/:name', async (request, reply) => {
    parseQuery(request.query, {});
    const { name } = request.params as { name: string };
    checks.name(name, 'experiment');
    const engine = await abtestOf();
    if (!engine)
      throw notFound(
        'The stack has no A/B testing engine',
        'Add one with `cairn add abtest-local`.',
        ErrorCodes.EXPERIMENT_NOT_FOUND,
      );
    const experiment = await engine.getExperiment(name);
    if (!experiment)
      throw notFound(
        `No experiment "${name}"`,
        'The experiments page lists them.',
        ErrorCodes.EXPERIMENT_NOT_FOUND,
      );
    const analysis = await engine.analyze(name);
    return page(reply, 'experiment', {
      title: `Experiment ${name}`,
      nav: 'experiments',
      experiment,
      analysis,
      sequential: await sequentialOf(engine, name, analysis.primary.metric),
    });
  });

  // ---------------------------------------------------------------- drift
  app.get('/drift', async (request, reply) => {
    const q = parseQuery(request.query, { run: checks.runId, limit: checks.int(1, 200) });
    const limit = (q.limit as number | undefined) ?? 30;
    const reports: Array<{ run: RunRecord; step: string; report: DriftReport }> = [];
    for (const run of await metadata.listRuns({ limit: 200 })) {
      if (reports.length >= limit) break;
      const found = await driftOf(run);
      if (found) reports.push({ run, ...found });
    }
    const selected = q.run
      ? (reports.find((r) => r.run.id === q.run) ?? (await driftFor(q.run as string)))
      : reports[0];
    return page(reply, 'drift', { title: 'Drift', nav: 'drift', reports, selected });
  });

  async function driftFor(id: string) {
    const run = await requireRun(id);
    const found = await driftOf(run);
    if (!found) throw notFound(`Run ${id} has no drift report`, 'The drift page lists runs that have one.');
    return { run, ...found };
  }

  async function driftOf(run: RunRecord): Promise<{ step: string; report: DriftReport } | undefined> {
    const executions: ExecutionRecord[] = await metadata.listExecutions(run.id);
    for (const e of executions) {
      for (const [output, ref] of Object.entries(e.outputs)) {
        if (ref.type !== 'json' || (output !== 'drift' && ref.size > 512 * 1024)) continue;
        const value = await readJson(storage, ref.digest, 1024 * 1024).catch(() => undefined);
        if (isDriftReport(value)) return { step: e.step, report: value };
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- actions
  const requireAction = (request: FastifyRequest): Record<string, string> => {
    if (!actions) {
      throw new CairnError(ErrorCodes.UI_READ_ONLY, 'This dashboard is read-only: nothing was changed', {
        hint: 'Start it with `cairn ui --actions` to promote, roll back and conclude from the pages.',
      });
    }
    const body = (request.body ?? {}) as Record<string, string>;
    if (body.formKey !== formKey)
      throw badRequest('The form is stale or from another page: reload and try again');
    return body;
  };
  const reasonOf = (body: Record<string, string>) => {
    const reason = (body.reason ?? '').trim();
    if (!reason || reason.length > 500)
      throw badRequest('A reason (1 to 500 characters) is required: it is kept in the history');
    return reason;
  };

  app.post('/models/:model/versions/:version/stage', async (request, reply) => {
    const body = requireAction(request);
    const { model, version } = request.params as { model: string; version: string };
    checks.name(model, 'model');
    const v = checks.int(1, 1_000_000_000)(version, 'version') as number;
    const to = checks.oneOf(STAGES)(body.stage ?? '', 'stage') as ModelStage;
    const from = body.from ? (checks.oneOf(STAGES)(body.from, 'from') as ModelStage) : undefined;
    await metadata.transitionStage({
      model,
      version: v,
      to,
      reason: reasonOf(body),
      actor: options.actor ?? 'cairn-ui',
      ...(from ? { expectedFrom: from } : {}),
    });
    return reply.redirect(`/models/${encodeURIComponent(model)}`, 303);
  });

  app.post('/endpoints/:name/rollback', async (request, reply) => {
    const body = requireAction(request);
    const { name } = request.params as { name: string };
    checks.name(name, 'endpoint');
    const deployer = await deployerOf();
    if (!deployer) throw notFound('The stack has no deployer', undefined, ErrorCodes.DEPLOYMENT_NOT_FOUND);
    await deployer.rollback(name, { reason: reasonOf(body) });
    return reply.redirect('/endpoints', 303);
  });

  app.post('/experiments/:name/conclude', async (request, reply) => {
    const body = requireAction(request);
    const { name } = request.params as { name: string };
    checks.name(name, 'experiment');
    const engine = await abtestOf();
    if (!engine)
      throw notFound('The stack has no A/B testing engine', undefined, ErrorCodes.EXPERIMENT_NOT_FOUND);
    const winner = checks.name(body.winner ?? '', 'winner');
    await engine.conclude(name, { winner, reason: reasonOf(body) });
    return reply.redirect(`/experiments/${encodeURIComponent(name)}`, 303);
  });

  if (options.floorPage) {
    // A static page of a given size, served like any page: the floor the browser benchmark compares with.
    app.get('/__static', async (request, reply) => {
      const q = parseQuery(request.query, { bytes: checks.int(1, 50_000_000) });
      const size = (q.bytes as number | undefined) ?? 10_000;
      const row = '<tr><td>static</td><td>row</td><td>of the floor page</td></tr>\n';
      const head =
        '<!doctype html><html><head><meta charset="utf-8"><title>static</title><link rel="stylesheet" href="/assets/ui.css"></head><body><table>';
      const body = `${head}${row.repeat(Math.max(0, Math.ceil((size - head.length) / row.length)))}</table></body></html>`;
      return reply.type('text/html; charset=utf-8').send(body);
    });
  }

  await app.listen({ host, port: options.port ?? 4300 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 4300);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const base = `http://${shownHost}:${port}`;
  return {
    url: options.token ? `${base}/?token=${encodeURIComponent(options.token)}` : base,
    async close() {
      for (const end of [...streams]) end();
      await app.close();
      await layouts.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** A point of an engine's sequential p-value history (`@cairn/abtest-local`'s `sequentialHistory`). */
interface SequentialPoint {
  metric: string;
  variant: string;
  at: string;
  pValue: number;
  units: number;
}

/**
 * The always-valid p-value over time, for engines that keep it (the A/B
 * contract does not ask for it): one aligned series per metric and variant,
 * primary metric first, and the last points as rows for the table.
 */
async function sequentialOf(engine: AbTestEngine, name: string, primary: string) {
  const read = (engine as AbTestEngine & { sequentialHistory?: unknown }).sequentialHistory;
  if (typeof read !== 'function') return undefined;
  const points = ((await read.call(engine, name)) as SequentialPoint[]).filter(
    (p) => typeof p.at === 'string' && Number.isFinite(p.pValue) && Number.isFinite(p.units),
  );
  const times = [...new Set(points.map((p) => p.at))].sort();
  const index = new Map(times.map((t, i) => [t, i]));
  const series = new Map<string, { label: string; metric: string; values: Array<number | null> }>();
  for (const p of points) {
    const label = `${p.metric} · ${p.variant}`;
    let line = series.get(label);
    if (!line) {
      line = { label, metric: p.metric, values: times.map(() => null) };
      series.set(label, line);
    }
    line.values[index.get(p.at)!] = p.pValue;
  }
  const ordered = [...series.values()].sort(
    (a, b) => Number(b.metric === primary) - Number(a.metric === primary) || a.label.localeCompare(b.label),
  );
  return {
    points: points.length,
    chart: { times, series: ordered.map(({ label, values }) => ({ label, values })) },
    rows: points.slice(-50).reverse(),
  };
}

/** A plugin given opened, or opened by the first call (and only once, even when calls overlap). */
function once<T>(value: T | (() => Promise<T>) | undefined): () => Promise<T | undefined> {
  if (typeof value !== 'function') return () => Promise.resolve(value);
  let opened: Promise<T> | undefined;
  return () => {
    opened ??= (value as () => Promise<T>)();
    opened.catch(() => {
      opened = undefined;
    });
    return opened;
  };
}

function stepDetail(step: StepView): string {
  const duration = step.execution?.durationMs;
  return [
    step.state,
    step.reason && step.reason !== step.state ? step.reason : undefined,
    duration && step.state !== 'cached' ? fmt.duration(duration) : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
}
