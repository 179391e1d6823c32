/**
 * The load test: before a version takes traffic, put it behind a staging
 * endpoint of its own (never the production endpoint, so no user request
 * reaches it), replay rows at it over HTTP with autocannon at a target rate
 * or concurrency, and measure latency percentiles, throughput and errors.
 * Thresholds in the config (`p99Ms`, `minRps`, `maxErrorRate`) fail the
 * step with CAIRN_LOADTEST_FAILED, so the deploy step after it never runs
 * for a model that is too slow. One action, {@link runLoadTest}, serves the
 * step and `cairn loadtest`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  CairnError,
  type Deployer,
  ErrorCodes,
  json,
  type ModelRegistry,
  type ModelStage,
  type ModelVersionRef,
  metrics,
  type Report,
  report,
  reportHtml,
  type Step,
  type StepLogger,
  step,
} from '@cairn/core';
import { barChartSvg, type CellValue, histogramSvg, htmlReport, table } from '@cairn/tabular';
import type { GateDecision } from './gate';
import { checkEndpoint, schema } from './schema';

/** Limits a load test must stay within; each is optional. */
export interface LoadTestThresholds {
  /** Highest acceptable 99th-percentile latency, in ms. */
  p99Ms?: number;
  /** Lowest acceptable throughput, in answered requests per second. */
  minRps?: number;
  /** Highest acceptable share of failed requests (non-2xx or no answer), 0–1. */
  maxErrorRate?: number;
}

/** How hard to push: the load test step's config (`conf/base/loadtest.yaml`) without its endpoint. */
export interface LoadTestSettings extends LoadTestThresholds {
  /** How long to send requests, in seconds. @default 10 */
  duration?: number;
  /** Concurrent connections. @default 4 */
  connections?: number;
  /** Target requests per second over all connections; without it, as fast as answers come. */
  rate?: number;
  /** Rows in each request's `rows`. @default 1 */
  rowsPerRequest?: number;
  /** Columns left out of the replayed rows (the label the model predicts). @default [] */
  dropColumns?: string[];
}

/** The load test step's config. */
export interface LoadTestConfig extends LoadTestSettings {
  /**
   * The production endpoint's name; the candidate is served under
   * `<endpoint>-loadtest` while it is measured. @default the model name
   */
  endpoint?: string;
}

/** Latencies of answered requests, in ms. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

/** One second of the test. */
export interface LoadTestSecond {
  /** Seconds since the start. */
  second: number;
  /** Requests finished in this second (answered or failed). */
  requests: number;
  errors: number;
  /** Latency percentiles of the answers finished in this second; absent without answers. */
  latencyMs?: Pick<LatencySummary, 'p50' | 'p95' | 'p99'>;
}

/** What a load test measured, and how it compares with its thresholds. */
export interface LoadTestResult {
  /** The endpoint whose candidate was measured. */
  endpoint: string;
  /** The staging endpoint that served it (removed afterwards). */
  stagingEndpoint: string;
  model: ModelVersionRef;
  settings: Required<Omit<LoadTestSettings, keyof LoadTestThresholds | 'rate'>> & { rate?: number };
  thresholds: LoadTestThresholds;
  /** Requests finished: answered plus failed. */
  requests: number;
  /** Requests answered 2xx. */
  succeeded: number;
  /** Requests answered non-2xx, timed out or refused. */
  errors: number;
  /** `errors / requests` (0 when no request finished; {@link checkLoadTest} does not pass that). */
  errorRate: number;
  /** Seconds the test ran. */
  durationSeconds: number;
  /** Answered requests per second. */
  rps: number;
  /** Over the answered requests; absent when none was answered. */
  latencyMs?: LatencySummary;
  /** Per second, for the report's latency over time. */
  timeline: LoadTestSecond[];
  /** Latencies of a sample of answered requests (at most 5,000), for the histogram. */
  latencySample: number[];
  /**
   * Requests still waiting for an answer when the test ended (one connection has at most one),
   * and the longest of their waits: a model that stalls near the end is seen here, not in the
   * latencies of the requests it did answer.
   */
  unanswered: { requests: number; longestWaitMs: number };
  /** Each threshold broken, in words with the numbers; empty when it passed. */
  failures: string[];
  passed: boolean;
}

/** The value at quantile `q` of ascending `sorted` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

function summarize(latencies: number[]): LatencySummary | undefined {
  if (latencies.length === 0) return undefined;
  const sorted = [...latencies].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    mean: sum / sorted.length,
    max: sorted.at(-1)!,
  };
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The thresholds the measurements break, each in words with both numbers:
 * the load test's whole judgement, a pure function of what was measured.
 * A test that answered nothing breaks `p99Ms` (there is no latency to judge),
 * and one in which no request even finished breaks `maxErrorRate`: its
 * `errorRate` is 0 errors of 0 requests, but not one request succeeded.
 */
export function checkLoadTest(
  measured: Pick<LoadTestResult, 'latencyMs' | 'rps' | 'errorRate' | 'requests'> &
    Partial<Pick<LoadTestResult, 'unanswered'>>,
  thresholds: LoadTestThresholds,
): string[] {
  const failures: string[] = [];
  if (thresholds.p99Ms !== undefined) {
    if (!measured.latencyMs)
      failures.push(`p99 latency: no request was answered (limit ${thresholds.p99Ms} ms)`);
    else if (measured.latencyMs.p99 > thresholds.p99Ms)
      failures.push(`p99 latency ${round(measured.latencyMs.p99)} ms > p99Ms ${thresholds.p99Ms} ms`);
    // A request that had already waited longer than the limit when the test ended is too slow,
    // answered or not (a model that stalls late would otherwise pass on its early answers).
    const waiting = measured.unanswered;
    if (measured.latencyMs && waiting && waiting.requests > 0 && waiting.longestWaitMs > thresholds.p99Ms)
      failures.push(
        `${waiting.requests} request(s) still unanswered when the test ended, one after ${round(waiting.longestWaitMs)} ms > p99Ms ${thresholds.p99Ms} ms`,
      );
  }
  if (thresholds.minRps !== undefined && measured.rps < thresholds.minRps)
    failures.push(`throughput ${round(measured.rps, 1)} req/s < minRps ${thresholds.minRps} req/s`);
  if (thresholds.maxErrorRate !== undefined) {
    const limit = `${round(thresholds.maxErrorRate * 100, 2)} %`;
    if (measured.requests === 0) failures.push(`error rate: no request was answered (limit ${limit})`);
    else if (measured.errorRate > thresholds.maxErrorRate)
      failures.push(`error rate ${round(measured.errorRate * 100, 2)} % > maxErrorRate ${limit}`);
  }
  return failures;
}

/** The staging endpoint a load test serves the candidate under. */
export function stagingEndpointOf(endpoint: string): string {
  return `${endpoint.slice(0, 63 - '-loadtest'.length)}-loadtest`;
}

/** `(load test pid <pid> on <host>)`: who holds a staging endpoint, kept in its deploy reason. */
const ownerTag = () => `(load test pid ${process.pid} on ${hostname()})`;
const OWNER = /\(load test pid (\d+) on (.+)\)$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The load test that holds a staging endpoint, as its deploy reason names it. */
export interface LoadTestHolder {
  pid: number;
  host: string;
  /** `true`: that process runs on this host; `false`: it is gone; `undefined`: another host's, which this one cannot see. */
  running: boolean | undefined;
}

/**
 * The load test holding an endpoint (its deploy reason ends with `(load test pid <pid> on
 * <host>)`), and whether it still runs; `undefined` for an endpoint no load test made.
 */
export function loadTestHolder(deployment: { reason?: string | undefined }): LoadTestHolder | undefined {
  const owner = OWNER.exec(deployment.reason ?? '');
  if (!owner) return undefined;
  const pid = Number(owner[1]);
  const host = owner[2]!;
  return { pid, host, running: host === hostname() ? processAlive(pid) : undefined };
}

/**
 * Make sure the staging endpoint is free before a test deploys to it. Another endpoint that
 * happens to have its name is never replaced (nor removed at the end); a running load test of the
 * same endpoint keeps it (two tests would measure each other's versions and remove each other's
 * endpoint); one a stopped load test left behind (its process is gone) is removed first.
 */
async function claimStaging(
  deployer: Deployer,
  staging: string,
  endpoint: string,
  log: (message: string) => void,
): Promise<void> {
  const existing = await deployer.status(staging);
  if (!existing) return;
  const holder = loadTestHolder(existing);
  if (!holder) {
    throw new CairnError(
      ErrorCodes.DEPLOY_INVALID,
      `endpoint "${staging}" exists and is not a load test's staging endpoint: a load test of "${endpoint}" would replace it and then remove it`,
      { hint: `Rename the endpoint "${staging}", or load-test under another endpoint name.` },
    );
  }
  const { pid, host } = holder;
  if (holder.running === false) {
    log(`removing ${staging}, left behind by a load test that stopped (pid ${pid})`);
    await deployer.remove(staging);
    return;
  }
  throw new CairnError(
    ErrorCodes.DEPLOY_INVALID,
    `another load test of "${endpoint}" is using ${staging} (pid ${pid} on ${host}, since ${existing.updatedAt})`,
    {
      hint:
        holder.running === true
          ? 'Wait for it to finish: two load tests of one endpoint would measure each other.'
          : `Wait for it to finish; if that process is gone, remove the endpoint: \`cairn endpoints remove ${staging} --yes\`.`,
    },
  );
}

/** What {@link runLoadTest} needs. */
export interface LoadTestRequest {
  /** The production endpoint's name (the staging one is derived from it). */
  endpoint: string;
  /** The version to measure. */
  model: ModelVersionRef;
  /** Rows to replay, in order and round again. */
  rows: readonly Record<string, unknown>[];
  settings?: LoadTestSettings;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

const SAMPLE_LIMIT = 5000;

/** Rows as JSON-safe values: Arrow gives bigints and dates that JSON.stringify refuses or changes. */
function jsonRow(row: Record<string, unknown>, drop: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (drop.has(key)) continue;
    out[key] =
      typeof value === 'bigint'
        ? Number(value)
        : value instanceof Date
          ? value.toISOString()
          : (value ?? null);
  }
  return out;
}

/**
 * The load-test action: deploy `model` to the staging endpoint
 * `<endpoint>-loadtest` (blue-green, health-checked on the first row), serve
 * it from this process on a private loopback port
 * ({@link Deployer.serveEndpoint}), replay the rows at it with autocannon,
 * then remove the staging endpoint. Production routes are never changed.
 * It measures; it does not judge beyond filling `failures` — callers throw
 * {@link loadTestError} when `passed` is false.
 * @throws CAIRN_DEPLOY_INVALID when the deployer cannot serve from this process, or there are no rows
 */
export async function runLoadTest(deployer: Deployer, request: LoadTestRequest): Promise<LoadTestResult> {
  const { endpoint, model, signal } = request;
  const settings = request.settings ?? {};
  const duration = settings.duration ?? 10;
  const connections = settings.connections ?? 4;
  const rowsPerRequest = settings.rowsPerRequest ?? 1;
  const dropColumns = settings.dropColumns ?? [];
  const thresholds: LoadTestThresholds = {
    ...(settings.p99Ms !== undefined ? { p99Ms: settings.p99Ms } : {}),
    ...(settings.minRps !== undefined ? { minRps: settings.minRps } : {}),
    ...(settings.maxErrorRate !== undefined ? { maxErrorRate: settings.maxErrorRate } : {}),
  };
  if (typeof deployer.serveEndpoint !== 'function') {
    throw new CairnError(
      ErrorCodes.DEPLOY_INVALID,
      'this deployer cannot serve an endpoint from the calling process, so it cannot be load-tested here',
      { hint: 'Run the load test with a deployer that implements serveEndpoint() (deploy-local does).' },
    );
  }
  if (request.rows.length === 0) {
    throw new CairnError(ErrorCodes.DEPLOY_INVALID, 'a load test needs at least one row to replay');
  }
  const drop = new Set(dropColumns);
  const rows = request.rows.map((row) => jsonRow(row, drop));
  const bodies: string[] = [];
  for (let i = 0; i < rows.length; i += rowsPerRequest) {
    bodies.push(JSON.stringify({ rows: rows.slice(i, i + rowsPerRequest) }));
  }
  const staging = stagingEndpointOf(endpoint);
  const log = request.log ?? (() => {});
  await claimStaging(deployer, staging, endpoint, log);
  await deployer.deploy({
    endpoint: staging,
    model,
    strategy: { type: 'blue-green' },
    reason: `load test of ${model.model} v${model.version} before it serves ${endpoint} ${ownerTag()}`,
    healthCheckRows: rows.slice(0, 1),
    // Answered only through serveEndpoint below: a running `cairn serve` does not serve it.
    staging: true,
  });
  try {
    const server = await deployer.serveEndpoint(staging);
    try {
      log(
        `load test of ${model.model} v${model.version} on ${staging}: ${duration} s, ${connections} connections${settings.rate ? `, ${settings.rate} req/s` : ''}`,
      );
      const measured = await fire(`${server.url}/predict`, bodies, {
        duration,
        connections,
        ...(settings.rate !== undefined ? { rate: settings.rate } : {}),
        ...(signal ? { signal } : {}),
      });
      const failures = checkLoadTest(measured, thresholds);
      return {
        endpoint,
        stagingEndpoint: staging,
        model: { model: model.model, version: model.version, digest: model.digest },
        settings: {
          duration,
          connections,
          rowsPerRequest,
          dropColumns,
          ...(settings.rate !== undefined ? { rate: settings.rate } : {}),
        },
        thresholds,
        ...measured,
        failures,
        passed: failures.length === 0,
      };
    } finally {
      await server.close();
    }
  } finally {
    await deployer.remove(staging);
  }
}

type Measured = Pick<
  LoadTestResult,
  | 'requests'
  | 'succeeded'
  | 'errors'
  | 'errorRate'
  | 'durationSeconds'
  | 'rps'
  | 'latencyMs'
  | 'timeline'
  | 'latencySample'
  | 'unanswered'
>;

/** Send the bodies with autocannon and time every answer. */
async function fire(
  url: string,
  bodies: readonly string[],
  options: { duration: number; connections: number; rate?: number; signal?: AbortSignal },
): Promise<Measured> {
  const { default: autocannon } = await import('autocannon');
  if (options.signal?.aborted) throw new CairnError(ErrorCodes.RUN_CANCELLED, 'the load test was cancelled');
  const latencies: number[] = [];
  const seconds = new Map<number, { latencies: number[]; requests: number; errors: number }>();
  let errors = 0;
  /** Successful answers within the test's duration: what its throughput is (rps) measured on. */
  let answeredInTime = 0;
  let started = 0;
  const bucket = () => {
    const second = Math.floor((performance.now() - started) / 1000);
    const entry = seconds.get(second) ?? { latencies: [], requests: 0, errors: 0 };
    seconds.set(second, entry);
    return entry;
  };
  // When each connection's request in flight was sent (none: nothing in flight).
  const inFlight = new Map<object, number>();
  const result = await new Promise<{ duration: number }>((resolve, reject) => {
    started = performance.now();
    const instance = autocannon(
      {
        url,
        setupClient: (client: NodeJS.EventEmitter) => {
          // The first request is sent as the client is made.
          inFlight.set(client, performance.now());
          client.on('request', () => inFlight.set(client, performance.now()));
          for (const done of ['response', 'timeout', 'connError'])
            client.on(done, () => inFlight.delete(client));
        },
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: bodies.map((body) => ({ body })),
        duration: options.duration,
        connections: options.connections,
        ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
      },
      (error, result) => (error ? reject(error) : resolve(result as unknown as { duration: number })),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const entry = bucket();
      entry.requests++;
      if (statusCode >= 200 && statusCode < 300) {
        latencies.push(responseTime);
        entry.latencies.push(responseTime);
        if (performance.now() - started < options.duration * 1000) answeredInTime++;
      } else {
        errors++;
        entry.errors++;
      }
    });
    instance.on('reqError', () => {
      const entry = bucket();
      entry.requests++;
      entry.errors++;
      errors++;
    });
    options.signal?.addEventListener('abort', () => instance.stop(), { once: true });
  });
  if (options.signal?.aborted) {
    throw new CairnError(ErrorCodes.RUN_CANCELLED, 'the load test was cancelled');
  }
  const ended = performance.now();
  const waits = [...inFlight.values()].map((sent) => ended - sent);
  const unanswered = { requests: waits.length, longestWaitMs: waits.length > 0 ? Math.max(...waits) : 0 };
  const requests = latencies.length + errors;
  const durationSeconds = result.duration > 0 ? result.duration : options.duration;
  const latencyMs = summarize(latencies);
  // Every second of the test, those in which nothing was answered too: a stall shows as seconds
  // with no requests, not as a gap the chart closes.
  const lastSecond = Math.max(Math.ceil(options.duration) - 1, ...seconds.keys());
  const timeline = Array.from({ length: lastSecond + 1 }, (_, second) => {
    const entry = seconds.get(second) ?? { latencies: [], requests: 0, errors: 0 };
    return [second, entry] as const;
  }).map(([second, entry]) => {
    const summary = summarize(entry.latencies);
    return {
      second,
      requests: entry.requests,
      errors: entry.errors,
      ...(summary ? { latencyMs: { p50: summary.p50, p95: summary.p95, p99: summary.p99 } } : {}),
    };
  });
  const step = Math.max(1, Math.ceil(latencies.length / SAMPLE_LIMIT));
  return {
    requests,
    succeeded: latencies.length,
    errors,
    errorRate: requests === 0 ? 0 : errors / requests,
    durationSeconds,
    // Answers within the duration, per second of it: autocannon sends each second's share of
    // `rate` at once and lets the last requests finish after the duration, so dividing every
    // answer by the duration read more than the rate asked for (266 answers in 5 s at rate 50).
    rps: answeredInTime / options.duration,
    ...(latencyMs ? { latencyMs } : {}),
    timeline,
    latencySample: latencies.filter((_, i) => i % step === 0),
    unanswered,
  };
}

/**
 * The flat metrics of a load test (the step's `metrics` artifact): `p50_ms`,
 * `p95_ms`, `p99_ms`, `mean_ms`, `max_ms` (when anything was answered),
 * `rps`, `requests`, `errors`, `error_rate`, `duration_s`, `passed` (1 or 0).
 */
export function loadTestMetrics(result: LoadTestResult): Record<string, number> {
  return {
    ...(result.latencyMs
      ? {
          p50_ms: result.latencyMs.p50,
          p95_ms: result.latencyMs.p95,
          p99_ms: result.latencyMs.p99,
          mean_ms: result.latencyMs.mean,
          max_ms: result.latencyMs.max,
        }
      : {}),
    rps: result.rps,
    requests: result.requests,
    errors: result.errors,
    error_rate: result.errorRate,
    unanswered: result.unanswered.requests,
    unanswered_wait_ms: result.unanswered.longestWaitMs,
    duration_s: result.durationSeconds,
    passed: result.passed ? 1 : 0,
  };
}

/**
 * A promotion the gate made before the load test ran: `version` of `model` moved to `stage`, and,
 * into production, the version it archived there (`replaced`; undefined when there was none).
 */
export interface GatePromotion {
  model: string;
  version: number;
  stage: ModelStage;
  replaced: number | undefined;
}

/** The promotion a gate's decision made, or undefined when it made none the test could undo. */
export function gatePromotion(decision: GateDecision): GatePromotion | undefined {
  const { model, stage } = decision;
  if (decision.decision !== 'promoted' || stage === undefined || stage === 'none' || stage === 'archived')
    return undefined;
  const replaced = stage === 'production' ? decision.production?.version : undefined;
  return { model, version: decision.candidate.version, stage, replaced };
}

/**
 * Why a promotion is withdrawn: the test `refused` the candidate, or was `unfinished` (cancelled,
 * or the staging endpoint or the model failed: the candidate was neither cleared nor refused);
 * `why` says what happened, for the registry's reason.
 */
export interface Withdrawal {
  outcome: 'refused' | 'unfinished';
  why: string;
}

/**
 * Undo a promotion whose candidate no load test cleared. The gate moved it to its stage before the
 * test ran; left there, the next run's deploy step (which deploys what holds the stage) would ship
 * it untested, and later gates would compare against it. Both transitions are guarded: if someone
 * changed the registry in between, the conflict is thrown.
 * - `refused`: the candidate goes to `archived` with the reason (the gate does not bring an
 *   archived version back);
 * - `unfinished`: it goes back to the stage it had before the gate moved it (`none` when the
 *   history does not say): the next run's gate judges it again and it is tested then.
 * Either way the version its promotion archived from production takes production back.
 */
export async function withdrawPromotion(
  registry: ModelRegistry,
  promotion: GatePromotion,
  withdrawal: Withdrawal,
  log: (line: string) => void,
): Promise<void> {
  const { model, version, stage, replaced } = promotion;
  const unfinished = withdrawal.outcome === 'unfinished';
  const before = unfinished
    ? (await registry.modelHistory(model))
        .filter((t) => t.version === version && t.to === stage && t.accepted !== false)
        .at(-1)?.from
    : 'archived';
  const back = before === undefined || before === stage ? 'none' : before;
  await registry.transitionStage({
    model,
    version,
    to: back,
    reason: unfinished
      ? `its load test did not finish: ${withdrawal.why}`
      : `refused by its load test: ${withdrawal.why}`,
    actor: 'cairn-loadtest',
    expectedFrom: stage,
  });
  log(
    unfinished
      ? `${model} v${version} is back in ${back}: its promotion to ${stage} is withdrawn until a load test clears it`
      : `${model} v${version} is archived: its promotion to ${stage} is withdrawn`,
  );
  if (replaced === undefined) return;
  await registry.transitionStage({
    model,
    version: replaced,
    to: 'production',
    reason: unfinished
      ? `back in production: v${version}'s load test did not finish`
      : `back in production: v${version} was refused by its load test`,
    actor: 'cairn-loadtest',
    expectedFrom: 'archived',
    expectedIncumbent: null,
  });
  log(`${model} v${replaced} is back in production`);
}

/** How a passing load test's record in the registry begins (a transition to the stage the candidate holds). */
export const CLEARED_REASON = 'cleared by its load test';

/**
 * Record in the registry that the candidate in `stage` passed its load test: a transition to the
 * stage it already holds, reason `cleared by its load test: <numbers>`. The gate promotes before
 * the test runs, so this record is what tells a tested promotion from one whose test never ended
 * (its process killed outright: nothing could withdraw the promotion then).
 */
async function recordClearance(
  registry: ModelRegistry,
  model: string,
  version: number,
  stage: ModelStage,
  numbers: string,
): Promise<void> {
  await registry.transitionStage({
    model,
    version,
    to: stage,
    reason: `${CLEARED_REASON}: ${numbers}`,
    actor: 'cairn-loadtest',
    expectedFrom: stage,
    archivePrevious: false,
  });
}

/**
 * The gate kept a candidate that already holds its stage: was it put there without a load test
 * clearing it since? That is a promotion whose test never ended (SIGKILL, a power cut), or one made
 * by hand. Left alone, the deploy step would ship it untested, so the step tests it now. Returns
 * that promotion (with the production version it archived, found by the same transition time) and
 * why it is tested, or undefined when it was cleared or does not hold the stage.
 */
async function unclearedPromotion(
  registry: ModelRegistry,
  decision: GateDecision,
): Promise<{ promotion: GatePromotion; reason: string } | undefined> {
  const { model, stage } = decision;
  const version = decision.candidate.version;
  if (stage !== 'production' && stage !== 'staging') return undefined;
  if ((await registry.getModelVersion(model, version))?.stage !== stage) return undefined;
  const history = (await registry.modelHistory(model)).filter((t) => t.accepted !== false);
  const last = history.filter((t) => t.version === version).at(-1);
  if (!last || last.to !== stage) return undefined;
  if (last.actor === 'cairn-loadtest' && last.reason.startsWith(CLEARED_REASON)) return undefined;
  // Moving a version into production archives the one that held it, in the same transaction.
  const replaced =
    stage === 'production'
      ? history.find(
          (t) => t.at === last.at && t.version !== version && t.from === stage && t.to === 'archived',
        )?.version
      : undefined;
  return {
    promotion: { model, version, stage, replaced },
    reason: `v${version} holds ${stage} but no load test cleared it (${last.reason})`,
  };
}

/** The per-second timeline as text lines: what the report's charts show, for a log. */
export function timelineLines(result: LoadTestResult): string[] {
  return result.timeline.map(
    (second) =>
      `second ${second.second}: ${second.requests - second.errors} answered, ${second.errors} errors${second.latencyMs ? `, p50 ${ms(second.latencyMs.p50)}, p99 ${ms(second.latencyMs.p99)}` : ''}`,
  );
}

/**
 * Whether the requests still unanswered when the test ended deserve a reader's attention.
 * Requests in flight at the moment a test stops are normal (each connection has one, sent
 * moments before), so they matter only when nothing was answered at all, when one had waited
 * longer than `p99Ms` (a broken threshold), or when one had waited longer than the answered
 * requests' p99 and a tenth of the test or more (a stall at the end). The result, `--json` and the
 * report keep them whatever this says.
 */
export function unansweredMatter(
  result: Pick<LoadTestResult, 'unanswered' | 'thresholds' | 'durationSeconds' | 'latencyMs'>,
): boolean {
  const { requests, longestWaitMs } = result.unanswered;
  if (requests === 0) return false;
  if (!result.latencyMs) return true;
  const { p99Ms } = result.thresholds;
  if (p99Ms !== undefined && longestWaitMs > p99Ms) return true;
  return longestWaitMs > result.latencyMs.p99 && longestWaitMs >= result.durationSeconds * 100;
}

/** Where the report of a refused load test was kept (a failed step keeps no output artifacts). */
export interface KeptLoadTestReport {
  /** The HTML report a passing test outputs as its `report`. */
  report: string;
  /** Its metrics as JSON, as a passing test outputs them as its `metrics` (absent when not kept). */
  metrics?: string;
}

/**
 * The folder a refused load test step keeps its report in: `<stateDir>/loadtests/<runId>/<step>/`,
 * under the run's state folder (`.cairn` by default). A later attempt of the same step replaces
 * the files.
 */
export function loadTestReportDir(stateDir: string, runId: string, step: string): string {
  return join(stateDir, 'loadtests', runId, step);
}

/** Write `text` to `path` whole or not at all: a temporary file beside it, then a rename. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
}

/**
 * Write a load test's HTML report (`report.html`) and metrics (`metrics.json`, the flat map of
 * {@link loadTestMetrics} with `tested: 1`, as the step outputs it) into `dir`, each atomically.
 * @returns their paths
 */
export async function keepLoadTestReport(
  result: LoadTestResult,
  dir: string,
): Promise<Required<KeptLoadTestReport>> {
  await mkdir(dir, { recursive: true });
  const kept = { report: join(dir, 'report.html'), metrics: join(dir, 'metrics.json') };
  await writeAtomically(
    kept.metrics,
    `${JSON.stringify({ tested: 1, ...loadTestMetrics(result) }, null, 2)}\n`,
  );
  await writeAtomically(kept.report, loadTestReport(result).content);
  return kept;
}

/** How {@link loadTestError} words where to look and what to change. */
export interface LoadTestErrorOptions {
  /** Where the report was kept: named in the message (the report) and the hint (the metrics). */
  kept?: KeptLoadTestReport;
  /** Where the thresholds are set. @default 'the load test config (conf/base/loadtest.yaml)' */
  thresholds?: string;
  /** A sentence added to the hint. */
  hint?: string;
}

/** The error a refused load test fails with: every broken threshold, with the numbers, and where its report is. */
export function loadTestError(result: LoadTestResult, options: LoadTestErrorOptions = {}): CairnError {
  const { kept } = options;
  const fix = result.failures.every((f) => f.startsWith('error rate'))
    ? 'Find why the model answered errors'
    : 'Make the model faster';
  const where = options.thresholds ?? 'the load test config (conf/base/loadtest.yaml)';
  return new CairnError(
    ErrorCodes.LOADTEST_FAILED,
    `${result.model.model} v${result.model.version} failed its load test: ${result.failures.join('; ')}${kept ? `. Report: ${kept.report}` : ''}`,
    {
      hint: [
        `${fix}, or loosen the threshold in ${where} if it is too strict.`,
        ...(kept?.metrics ? [`Its metrics: ${kept.metrics}.`] : []),
        ...(options.hint ? [options.hint] : []),
      ].join(' '),
      context: { endpoint: result.endpoint, version: String(result.model.version) },
    },
  );
}

const ms = (value: number | undefined) => (value === undefined ? '–' : `${round(value)} ms`);

/** An HTML report of a load test: the verdict, the numbers, a latency histogram and latency over time. */
export function loadTestReport(result: LoadTestResult): Report {
  const { thresholds } = result;
  const verdict = result.passed ? 'Passed every threshold.' : `**Refused**: ${result.failures.join('; ')}.`;
  const rows = [
    { measure: 'p50 latency', value: ms(result.latencyMs?.p50), threshold: '' },
    { measure: 'p95 latency', value: ms(result.latencyMs?.p95), threshold: '' },
    {
      measure: 'p99 latency',
      value: ms(result.latencyMs?.p99),
      threshold: thresholds.p99Ms === undefined ? '' : `≤ ${thresholds.p99Ms} ms`,
    },
    {
      measure: 'throughput',
      value: `${round(result.rps, 1)} req/s`,
      threshold: thresholds.minRps === undefined ? '' : `≥ ${thresholds.minRps} req/s`,
    },
    {
      measure: 'error rate',
      value: `${round(result.errorRate * 100, 2)} %`,
      threshold:
        thresholds.maxErrorRate === undefined ? '' : `≤ ${round(thresholds.maxErrorRate * 100, 2)} %`,
    },
    { measure: 'requests', value: String(result.requests), threshold: '' },
    { measure: 'errors', value: String(result.errors), threshold: '' },
    {
      measure: 'unanswered at the end',
      value:
        result.unanswered.requests === 0
          ? '0'
          : `${result.unanswered.requests} (longest wait ${ms(result.unanswered.longestWaitMs)})`,
      threshold: '',
    },
    { measure: 'duration', value: `${round(result.durationSeconds, 1)} s`, threshold: '' },
  ];
  const overTime = Object.fromEntries(
    result.timeline
      .filter((second) => second.latencyMs)
      .map((second) => [`${second.second}s`, round(second.latencyMs!.p99)]),
  );
  const { settings } = result;
  const title = `Load test: ${result.model.model} v${result.model.version}`;
  return reportHtml(
    htmlReport({
      title,
      subtitle: `${result.stagingEndpoint}: ${settings.connections} connections, ${settings.duration} s${settings.rate ? `, target ${settings.rate} req/s` : ''}, ${settings.rowsPerRequest} row(s) per request`,
      sections: [
        { heading: 'Verdict', markdown: verdict, table: rows },
        {
          heading: 'Latency histogram',
          svg: histogramSvg(result.latencySample, { title: 'Answered requests', xLabel: 'latency (ms)' }),
        },
        {
          heading: 'Requests over time',
          svg: barChartSvg(
            Object.fromEntries(
              result.timeline.map((second) => [`${second.second}s`, second.requests - second.errors]),
            ),
            {
              title: 'Answered requests per second (a stall shows as seconds at 0)',
              xLabel: 'second',
              yLabel: 'requests',
            },
          ),
        },
        {
          heading: 'Latency over time',
          svg: barChartSvg(overTime, {
            title: 'p99 latency per second (seconds with answers)',
            xLabel: 'second',
            yLabel: 'ms',
          }),
          table: result.timeline.map((second) => ({
            second: second.second,
            requests: second.requests,
            errors: second.errors,
            p50: ms(second.latencyMs?.p50),
            p95: ms(second.latencyMs?.p95),
            p99: ms(second.latencyMs?.p99),
          })),
        },
      ],
    }),
    { title },
  );
}

const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;
const positiveInteger = (value: unknown) => positive(value) && Number.isInteger(value);

/** Check the settings shared by the step's config and `cairn loadtest`'s flags; issues name the key. */
export function checkLoadTestSettings(
  value: Record<string, unknown>,
  issues: Array<{ path: string[]; message: string }>,
): void {
  const check = (key: string, ok: (v: unknown) => boolean, expected: string) => {
    if (value[key] !== undefined && !ok(value[key])) issues.push({ path: [key], message: expected });
  };
  // Whole seconds and whole requests per second: the load generator rounds anything else up
  // (0.001 s ran for a second; 0.5 req/s made it fail).
  check(
    'duration',
    (v) => positiveInteger(v) && (v as number) <= 3600,
    'expected whole seconds, from 1 to 3600',
  );
  check(
    'connections',
    (v) => positiveInteger(v) && (v as number) <= 1000,
    'expected an integer from 1 to 1000',
  );
  check('rate', (v) => positive(v) && (v as number) >= 1, 'expected requests per second, at least 1');
  check(
    'rowsPerRequest',
    (v) => positiveInteger(v) && (v as number) <= 10_000,
    'expected an integer from 1 to 10000',
  );
  check('p99Ms', positive, 'expected milliseconds, more than 0');
  check('minRps', positive, 'expected requests per second, more than 0');
  check(
    'maxErrorRate',
    (v) => typeof v === 'number' && v >= 0 && v <= 1,
    'expected a share from 0 to 1 (0.01 is 1 %)',
  );
  check(
    'dropColumns',
    (v) => Array.isArray(v) && v.every((c) => typeof c === 'string'),
    'expected a list of column names',
  );
}

const SETTINGS_KEYS = [
  'duration',
  'connections',
  'rate',
  'rowsPerRequest',
  'dropColumns',
  'p99Ms',
  'minRps',
  'maxErrorRate',
] as const;

const loadTestConfig = schema<LoadTestConfig>(['endpoint', ...SETTINGS_KEYS], (value, issues) => {
  checkEndpoint(value, issues);
  checkLoadTestSettings(value, issues as Array<{ path: string[]; message: string }>);
  const config: LoadTestConfig = {};
  if (typeof value.endpoint === 'string') config.endpoint = value.endpoint;
  for (const key of SETTINGS_KEYS)
    if (value[key] !== undefined) (config as Record<string, unknown>)[key] = value[key];
  return config;
});

/** What the load test step records beside its metrics: the measured version, or why none was. */
export interface LoadTestRecord {
  endpoint: string;
  model: string;
  /** The version measured; absent when the gate kept the candidate out and there was nothing new to test. */
  version?: number;
  passed: boolean;
  reason: string;
}

/**
 * Fail the step for a refused candidate. A failed step keeps no output artifacts, so its report and
 * metrics are written as files into `dir` (named in the error and the log), and its timeline goes
 * to the step's log (`cairn logs`), one line per second, stalls included. A report that cannot be
 * written is said in the log; the error is still the refusal.
 */
async function refuse(
  result: LoadTestResult,
  numbers: string,
  dir: string,
  log: StepLogger,
  withdraw: (failures: string) => Promise<void>,
): Promise<never> {
  log.error(`refused: ${numbers}`);
  for (const line of timelineLines(result)) log.info(line);
  let kept: KeptLoadTestReport | undefined;
  try {
    kept = await keepLoadTestReport(result, dir);
    log.info(`report: ${kept.report} (metrics: ${kept.metrics})`);
  } catch (error) {
    log.warn(
      `the report of this refused load test could not be written to ${dir}: ${(error as Error).message}`,
    );
  }
  await withdraw(result.failures.join('; '));
  throw loadTestError(result, kept ? { kept } : {});
}

/**
 * A step that load-tests the gate's promoted candidate before it is
 * deployed (see {@link runLoadTest}) and hands the gate's decision on to the
 * deploy step only when the candidate met every threshold: wire the deploy
 * step to its `decision` and a too-slow model fails this step with
 * CAIRN_LOADTEST_FAILED (the numbers in the message) and is never deployed.
 * A candidate the gate kept out is not measured (nothing new will serve).
 * `Row` is the row type of the table it replays (as `table<Row>()` wires it).
 * Its `metrics` artifact holds p50/p95/p99 latency, throughput and error
 * rate; its `report` a latency histogram and latency over time.
 *
 * @example
 * ```ts
 * const { decision } = gate({ registration });
 * const { decision: cleared } = loadtest({ decision, rows: test });
 * deploy({ decision: cleared });
 * ```
 * ```yaml
 * # conf/base/loadtest.yaml
 * endpoint: penguins
 * duration: 5
 * connections: 4
 * p99Ms: 250
 * minRps: 20
 * maxErrorRate: 0.01
 * ```
 */
export function loadTestStep<Row extends object = Record<string, CellValue>>(
  options: { name?: string } = {},
): Step<
  LoadTestConfig,
  { decision: ReturnType<typeof json<GateDecision>>; rows: ReturnType<typeof table<Row>> },
  {
    decision: ReturnType<typeof json<GateDecision>>;
    metrics: ReturnType<typeof metrics>;
    report: ReturnType<typeof report>;
    loadtest: ReturnType<typeof json<LoadTestRecord>>;
  }
> {
  return step({
    name: options.name ?? 'loadtest',
    description: 'Load-test the promoted candidate on a staging endpoint before it is deployed',
    config: loadTestConfig,
    inputs: { decision: json<GateDecision>(), rows: table<Row>() },
    outputs: {
      decision: json<GateDecision>(),
      metrics: metrics(),
      report: report(),
      loadtest: json<LoadTestRecord>(),
    },
    uses: ['registry', 'deployer'],
    async run({ config, inputs, registry, deployer, log, signal, stateDir, runId, step: node }) {
      // The gate's own decision is what the step hands on, whatever it tests.
      const { decision } = inputs;
      const endpoint = config.endpoint ?? decision.model;
      const uncleared =
        decision.decision === 'kept' ? await unclearedPromotion(registry!, decision) : undefined;
      if (uncleared) log.warn(`${uncleared.reason}: testing it now`);
      if (decision.decision !== 'promoted' && !uncleared) {
        const reason = `the gate kept ${decision.model} v${decision.candidate.version} out: nothing new to load-test`;
        log.info(reason);
        const title = `Load test: ${decision.model} v${decision.candidate.version}`;
        return {
          decision,
          metrics: { tested: 0 },
          report: reportHtml(htmlReport({ title, sections: [{ heading: 'Not run', markdown: reason }] }), {
            title,
          }),
          loadtest: { endpoint, model: decision.model, passed: true, reason },
        };
      }
      const version = await registry!.getModelVersion(decision.model, decision.candidate.version);
      if (!version) {
        throw new CairnError(
          ErrorCodes.METADATA_NOT_FOUND,
          `${decision.model} v${decision.candidate.version} is not in the registry`,
        );
      }
      // What a refusal, or a test that does not finish, withdraws: the gate's promotion, or the
      // uncleared one found above.
      const promotion = uncleared?.promotion ?? gatePromotion(decision);
      const withdraw = (withdrawal: Withdrawal) =>
        promotion
          ? withdrawPromotion(registry!, promotion, withdrawal, (line) => log.info(line))
          : Promise.resolve();
      let result: LoadTestResult;
      try {
        result = await runLoadTest(deployer!, {
          endpoint,
          model: { model: version.model, version: version.version, digest: version.digest },
          rows: inputs.rows.rows() as Record<string, unknown>[],
          settings: config,
          signal,
          log: (message) => log.info(message),
        });
      } catch (error) {
        // Cancelled or broken before it could judge: the gate's promotion must not outlive it, or the
        // next run's deploy step would ship the candidate untested (the gate would say "kept").
        const why = signal.aborted ? 'the run was cancelled' : (error as Error)?.message || String(error);
        await withdraw({ outcome: 'unfinished', why }).catch((failure: Error) =>
          log.warn(`the gate's promotion could not be withdrawn: ${failure.message}`),
        );
        throw error;
      }
      const numbers = `p50 ${ms(result.latencyMs?.p50)}, p95 ${ms(result.latencyMs?.p95)}, p99 ${ms(result.latencyMs?.p99)}, ${round(result.rps, 1)} req/s, ${round(result.errorRate * 100, 2)} % errors over ${result.requests} requests`;
      if (!result.passed) {
        const dir = loadTestReportDir(stateDir, runId, node);
        await refuse(result, numbers, dir, log, (failures) =>
          withdraw({ outcome: 'refused', why: failures }),
        );
      }
      log.info(`passed: ${numbers}`);
      await recordClearance(registry!, decision.model, version.version, decision.stage!, numbers);
      return {
        decision,
        metrics: { tested: 1, ...loadTestMetrics(result) },
        report: loadTestReport(result),
        loadtest: {
          endpoint,
          model: decision.model,
          version: version.version,
          passed: true,
          reason: numbers,
        },
      };
    },
  });
}
