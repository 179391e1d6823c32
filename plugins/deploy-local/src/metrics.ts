/**
 * Prometheus metrics of a serving deployer (prom-client), on its own
 * registry so that two deployers in one process (tests, a host app with its
 * own registry) never collide. prom-client is loaded when a serving deployer
 * starts, not when the plugin is imported.
 */
import type { ModelVersionRef, TrafficRoute } from '@cairn/core';
import type { Metric } from 'prom-client';

/**
 * How often the event loop's delay is sampled for the `nodejs_eventloop_lag_*` metrics, in ms. Ten
 * samples a second still give hundreds per scrape interval; a block shorter than this can fall
 * between two samples and go unseen.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Latency buckets in seconds: a sub-millisecond model to a slow one. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The counters of one route of one endpoint, resolved once (a label lookup per request costs). */
export interface RouteMetrics {
  /** One answered request (or failed one, `failed`), taking `seconds`. */
  observe(seconds: number, failed: boolean): void;
}

export interface ServingMetrics {
  /** The counters of `route` (by endpoint, model version and role), the same object for every request. */
  route(endpoint: string, route: TrafficRoute): RouteMetrics;
  /** A model version finished loading (bundle checked or unpacked, loader run). */
  modelLoaded(model: ModelVersionRef, seconds: number): void;
  /** Prediction-log rows written to storage, and rows dropped because the buffer was full. */
  logged(rows: number): void;
  dropped(rows: number): void;
  render(): Promise<{ contentType: string; text: string }>;
}

type Labels = Readonly<Record<'endpoint' | 'model' | 'version' | 'role', string>>;

/**
 * One route's requests, errors and latency histogram as plain numbers: what
 * a request costs is a few additions. prom-client's labelled children hash
 * and validate their labels on every `inc` and `observe`; these series are
 * turned into samples only when `/metrics` is read.
 */
class RouteSeries implements RouteMetrics {
  requests = 0;
  errors = 0;
  /** Latency observations (answered requests, bad input included), their sum in seconds. */
  count = 0;
  sum = 0;
  /** Observations per bucket, not cumulative: `buckets[i]` counts `BUCKETS[i - 1] < seconds <= BUCKETS[i]`. */
  readonly buckets = new Float64Array(BUCKETS.length);

  constructor(
    readonly labels: Labels,
    /** Where a series joins each metric on its first count: they list in that order, as prom-client's did. */
    private readonly shown: Shown,
  ) {}

  observe(seconds: number, failed: boolean): void {
    if (this.requests++ === 0) this.shown.requests.push(this);
    if (failed) {
      if (this.errors++ === 0) this.shown.errors.push(this);
      return;
    }
    if (this.count++ === 0) this.shown.latency.push(this);
    this.sum += seconds;
    // From the smallest bound: a fast model's answers end in the first buckets.
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

/** The series each metric shows, in the order of their first count. */
interface Shown {
  requests: RouteSeries[];
  errors: RouteSeries[];
  latency: RouteSeries[];
}

/** A sample as prom-client's registry formats it (`sharedLabels` come after `labels`). */
interface Sample {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  metricName?: string;
}

/**
 * A metric the registry renders like its own (name, help, type, samples),
 * read from the route series at scrape time. Series show once they have a
 * sample to show, as prom-client's labelled children did.
 */
function collected(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  samples: () => Sample[],
): Metric {
  const read = async () => ({ name, help, type, values: samples(), aggregator: 'sum' as const });
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    getForPromString: read,
    // The JSON form (getMetricsAsJSON) has the shared labels merged in, as prom-client's own get().
    get: async () => {
      const data = await read();
      return {
        ...data,
        values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
          ...rest,
          labels: { ...labels, ...sharedLabels },
        })),
      };
    },
    reset: () => {},
  };
  return metric as unknown as Metric;
}

export async function createMetrics(): Promise<ServingMetrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  // The event loop's delay is sampled every EVENT_LOOP_SAMPLE_MS, not prom-client's 10 ms: each
  // sample wakes a server that is waiting for its next request, and at one request at a time
  // those wake-ups cost a few per cent of requests/s (bench/serving.mjs, concurrency 1).
  prom.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  /** One series per endpoint, model version and role. */
  const series = new Map<string, RouteSeries>();
  const shown: Shown = { requests: [], errors: [], latency: [] };
  registry.registerMetric(
    collected(
      'cairn_serving_requests_total',
      'Predictions answered, by endpoint, model version and role (primary, canary, shadow).',
      'counter',
      () => shown.requests.map((s) => ({ value: s.requests, labels: s.labels })),
    ),
  );
  registry.registerMetric(
    collected(
      'cairn_serving_errors_total',
      'Predictions that failed in the model (bad input rows are not counted).',
      'counter',
      () => shown.errors.map((s) => ({ value: s.errors, labels: s.labels })),
    ),
  );
  const latency = 'cairn_serving_request_duration_seconds';
  registry.registerMetric(
    collected(
      latency,
      'Time to run a prediction on a model version, by endpoint, version and role.',
      'histogram',
      () =>
        shown.latency.flatMap((s) => {
          const samples: Sample[] = [];
          let cumulative = 0;
          for (let i = 0; i < BUCKETS.length; i++) {
            cumulative += s.buckets[i]!;
            const le = BUCKETS[i]!;
            samples.push({
              value: cumulative,
              labels: { le },
              sharedLabels: s.labels,
              metricName: `${latency}_bucket`,
            });
          }
          samples.push(
            {
              value: s.count,
              labels: { le: '+Inf' },
              sharedLabels: s.labels,
              metricName: `${latency}_bucket`,
            },
            { value: s.sum, labels: {}, sharedLabels: s.labels, metricName: `${latency}_sum` },
            { value: s.count, labels: {}, sharedLabels: s.labels, metricName: `${latency}_count` },
          );
          return samples;
        }),
    ),
  );
  const loads = new prom.Gauge({
    name: 'cairn_serving_model_load_seconds',
    help: 'How long the last load of a model version took (bundle checked or unpacked, loader run).',
    labelNames: ['model', 'version', 'digest'] as const,
    registers: [registry],
  });
  const loggedRows = new prom.Counter({
    name: 'cairn_prediction_log_rows_total',
    help: 'Sampled prediction rows written to storage.',
    registers: [registry],
  });
  const droppedRows = new prom.Counter({
    name: 'cairn_prediction_log_dropped_rows_total',
    help: 'Sampled prediction rows dropped because the log buffer was full (storage too slow or failing).',
    registers: [registry],
  });
  /** A route object of a live revision → its series: no key to build per request. */
  const byRoute = new WeakMap<TrafficRoute, { endpoint: string; series: RouteSeries }>();
  return {
    route(endpoint, route) {
      const known = byRoute.get(route);
      if (known?.endpoint === endpoint) return known.series;
      const { model, role } = route;
      // Another revision's route with the same labels counts on in the same series.
      const key = `${endpoint}\n${model.model}\n${model.version}\n${role}`;
      let found = series.get(key);
      if (!found) {
        found = new RouteSeries(
          { endpoint, model: model.model, version: String(model.version), role },
          shown,
        );
        series.set(key, found);
      }
      byRoute.set(route, { endpoint, series: found });
      return found;
    },
    modelLoaded(model, seconds) {
      loads.set({ model: model.model, version: String(model.version), digest: model.digest }, seconds);
    },
    logged: (rows) => loggedRows.inc(rows),
    dropped: (rows) => droppedRows.inc(rows),
    async render() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}
