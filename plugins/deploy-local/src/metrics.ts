/**
 * Prometheus metrics of a serving deployer (prom-client), on its own
 * registry so that two deployers in one process (tests, a host app with its
 * own registry) never collide. prom-client is loaded when a serving deployer
 * starts, not when the plugin is imported.
 */
import type { ModelVersionRef, TrafficRoute } from '@cairn/core';

/** Latency buckets in seconds: a sub-millisecond model to a slow one. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The counters of one route of one endpoint, resolved once (a label lookup per request costs). */
export interface RouteMetrics {
  /** One answered request (or failed one, `failed`), taking `seconds`. */
  observe(seconds: number, failed: boolean): void;
}

export interface ServingMetrics {
  route(endpoint: string, model: ModelVersionRef, role: TrafficRoute['role']): RouteMetrics;
  /** A model version finished loading (bundle checked or unpacked, loader run). */
  modelLoaded(model: ModelVersionRef, seconds: number): void;
  /** Prediction-log rows written to storage, and rows dropped because the buffer was full. */
  logged(rows: number): void;
  dropped(rows: number): void;
  render(): Promise<{ contentType: string; text: string }>;
}

export async function createMetrics(): Promise<ServingMetrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const labelNames = ['endpoint', 'model', 'version', 'role'] as const;
  const requests = new prom.Counter({
    name: 'cairn_serving_requests_total',
    help: 'Predictions answered, by endpoint, model version and role (primary, canary, shadow).',
    labelNames,
    registers: [registry],
  });
  const errors = new prom.Counter({
    name: 'cairn_serving_errors_total',
    help: 'Predictions that failed in the model (bad input rows are not counted).',
    labelNames,
    registers: [registry],
  });
  const latency = new prom.Histogram({
    name: 'cairn_serving_request_duration_seconds',
    help: 'Time to run a prediction on a model version, by endpoint, version and role.',
    labelNames,
    buckets: BUCKETS,
    registers: [registry],
  });
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
  const routes = new Map<string, RouteMetrics>();
  return {
    route(endpoint, model, role) {
      const key = `${endpoint}\n${model.model}\n${model.version}\n${role}`;
      let found = routes.get(key);
      if (!found) {
        const labels = { endpoint, model: model.model, version: String(model.version), role };
        const count = requests.labels(labels);
        const fail = errors.labels(labels);
        const time = latency.labels(labels);
        found = {
          observe(seconds, failed) {
            count.inc();
            if (failed) fail.inc();
            else time.observe(seconds);
          },
        };
        routes.set(key, found);
      }
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
