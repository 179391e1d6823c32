/**
 * What `/metrics` shows for known observations: the request and error
 * counters and the latency histogram's buckets (cumulative), +Inf, sum and
 * count, in the Prometheus text format, per endpoint, model version and role.
 */
import { createRequire } from 'node:module';
import type { TrafficRoute } from '@cairn/core';
import { describe, expect, it, vi } from 'vitest';
import { createMetrics, EVENT_LOOP_SAMPLE_MS } from '../src/metrics';

const BOUNDS = [
  '0.0005',
  '0.001',
  '0.0025',
  '0.005',
  '0.01',
  '0.025',
  '0.05',
  '0.1',
  '0.25',
  '0.5',
  '1',
  '2.5',
  '5',
];

const route = (version: number, role: TrafficRoute['role'], model = 'iris'): TrafficRoute => ({
  model: { model, version, digest: `sha256:${String(version).repeat(64)}` },
  role,
  weight: role === 'shadow' ? 0 : 100,
});

/** The lines of one metric family: `# HELP`, `# TYPE` and its samples. */
function family(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(lines.find((line) => line.startsWith(`# HELP ${name} `))!);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, i) => i > start + 1 && !line.startsWith(name));
  return lines.slice(start, end === -1 ? undefined : end);
}

describe('serving metrics', () => {
  it('count requests and errors, and put each latency in its bucket, cumulative, with the sum and count', async () => {
    const metrics = await createMetrics();
    const primary = route(1, 'primary');
    const seen = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 4.9, 7];
    for (const seconds of seen) metrics.route('shop', primary).observe(seconds, false);
    metrics.route('shop', primary).observe(0.02, true); // a failure: counted, not timed
    // The next revision's route object, same labels: the same series goes on counting.
    const again = route(1, 'primary');
    metrics.route('shop', again).observe(0.0004, false);
    metrics.route('shop', route(2, 'shadow')).observe(0.04, false);
    metrics.route('shop', route(3, 'canary')); // resolved, never served: not shown

    const { contentType, text } = await metrics.render();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const labels = 'endpoint="shop",model="iris",version="1",role="primary"';
    const shadow = 'endpoint="shop",model="iris",version="2",role="shadow"';
    expect(family(text, 'cairn_serving_requests_total')).toEqual([
      '# HELP cairn_serving_requests_total Predictions answered, by endpoint, model version and role (primary, canary, shadow).',
      '# TYPE cairn_serving_requests_total counter',
      `cairn_serving_requests_total{${labels}} 10`,
      `cairn_serving_requests_total{${shadow}} 1`,
    ]);
    expect(family(text, 'cairn_serving_errors_total')).toEqual([
      '# HELP cairn_serving_errors_total Predictions that failed in the model (bad input rows are not counted).',
      '# TYPE cairn_serving_errors_total counter',
      `cairn_serving_errors_total{${labels}} 1`,
    ]);
    // 0.0001, 0.0004 and 0.0005 (a bound is inside its bucket) ≤ 0.0005; 0.0007 ≤ 0.001; 0.003 twice ≤ 0.005;
    // 0.2 ≤ 0.25; 4.9 ≤ 5; 7 only in +Inf.
    const cumulative = [3, 4, 4, 6, 6, 6, 6, 6, 7, 7, 7, 7, 8];
    const sum = [...seen, 0.0004].reduce((a, b) => a + b, 0);
    const name = 'cairn_serving_request_duration_seconds';
    expect(family(text, name)).toEqual([
      `# HELP ${name} Time to run a prediction on a model version, by endpoint, version and role.`,
      `# TYPE ${name} histogram`,
      ...BOUNDS.map((le, i) => `${name}_bucket{le="${le}",${labels}} ${cumulative[i]}`),
      `${name}_bucket{le="+Inf",${labels}} 9`,
      `${name}_sum{${labels}} ${sum}`,
      `${name}_count{${labels}} 9`,
      ...BOUNDS.map((le) => `${name}_bucket{le="${le}",${shadow}} ${Number(le) >= 0.04 ? 1 : 0}`),
      `${name}_bucket{le="+Inf",${shadow}} 1`,
      `${name}_sum{${shadow}} 0.04`,
      `${name}_count{${shadow}} 1`,
    ]);
    expect(text).not.toContain('version="3"');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('keeps endpoints apart and escapes label values', async () => {
    const metrics = await createMetrics();
    const odd = route(1, 'primary', 'a "quoted"\\model\nname');
    metrics.route('shop', odd).observe(0.001, false);
    metrics.route('cart', odd).observe(0.001, true);
    const text = (await metrics.render()).text;
    const model = 'model="a \\"quoted\\"\\\\model\\nname"';
    expect(text).toContain(
      `cairn_serving_requests_total{endpoint="shop",${model},version="1",role="primary"} 1`,
    );
    expect(text).toContain(
      `cairn_serving_requests_total{endpoint="cart",${model},version="1",role="primary"} 1`,
    );
    expect(text).toContain(
      `cairn_serving_errors_total{endpoint="cart",${model},version="1",role="primary"} 1`,
    );
    expect(text).not.toContain('cairn_serving_errors_total{endpoint="shop"');
    expect(text).toContain(
      `cairn_serving_request_duration_seconds_count{endpoint="shop",${model},version="1",role="primary"} 1`,
    );
    expect(text).not.toContain('cairn_serving_request_duration_seconds_count{endpoint="cart"');
  });

  it('count prediction-log rows and load times', async () => {
    const metrics = await createMetrics();
    metrics.logged(3);
    metrics.logged(4);
    metrics.dropped(2);
    metrics.modelLoaded(route(1, 'primary').model, 0.5);
    const text = (await metrics.render()).text;
    expect(text).toMatch(/^cairn_prediction_log_rows_total 7$/m);
    expect(text).toMatch(/^cairn_prediction_log_dropped_rows_total 2$/m);
    expect(text).toContain(
      `cairn_serving_model_load_seconds{model="iris",version="1",digest="sha256:${'1'.repeat(64)}"} 0.5`,
    );
  });
});

describe('the process metrics', () => {
  it('sample the event loop every EVENT_LOOP_SAMPLE_MS (100 ms), not every 10 ms, and still report its lag', async () => {
    // prom-client reads perf_hooks through its CommonJS module object: a spy there sees its call.
    const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as typeof import('node:perf_hooks');
    const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    try {
      const metrics = await createMetrics();
      expect(EVENT_LOOP_SAMPLE_MS).toBe(100);
      expect(spy.mock.calls.map(([options]) => options?.resolution)).toEqual([EVENT_LOOP_SAMPLE_MS]);
      const { text } = await metrics.render();
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    } finally {
      spy.mockRestore();
    }
  });
});
