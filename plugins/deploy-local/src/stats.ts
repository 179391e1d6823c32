/**
 * Per-route statistics that `health()` reports: requests, errors and a
 * window of recent latencies for the p50/p95, by endpoint and model version.
 */
import type { ModelVersionRef } from '@cairn/core';

export interface RouteStats {
  requests: number;
  errors: number;
  latencies: number[];
  /** Where the next latency goes once the window is full (a ring). */
  next: number;
}

const routeKey = (ref: ModelVersionRef) => `${ref.model}@${ref.version}#${ref.digest}`;

/** Percentile of sorted values, nearest rank. */
export function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export class ServingStats {
  private readonly byEndpoint = new Map<string, Map<string, RouteStats>>();

  /** @param window recent latencies kept per route */
  constructor(private readonly window: number) {}

  /** The counters of one route, made on first use. */
  of(endpoint: string, ref: ModelVersionRef): RouteStats {
    let byRoute = this.byEndpoint.get(endpoint);
    if (!byRoute) {
      byRoute = new Map();
      this.byEndpoint.set(endpoint, byRoute);
    }
    const key = routeKey(ref);
    let stats = byRoute.get(key);
    if (!stats) {
      stats = { requests: 0, errors: 0, latencies: [], next: 0 };
      byRoute.set(key, stats);
    }
    return stats;
  }

  /** Keep one latency in the route's window. */
  record(stats: RouteStats, ms: number): void {
    if (stats.latencies.length < this.window) stats.latencies.push(ms);
    else stats.latencies[stats.next] = ms;
    stats.next = (stats.next + 1) % this.window;
  }

  /** What `health()` shows for a route. */
  summary(
    endpoint: string,
    ref: ModelVersionRef,
  ): { requests: number; errors: number; latencyMs?: { p50: number; p95: number } } {
    const stats = this.of(endpoint, ref);
    const recent = stats.latencies.slice().sort((a, b) => a - b);
    return {
      requests: stats.requests,
      errors: stats.errors,
      ...(recent.length > 0
        ? { latencyMs: { p50: percentile(recent, 50), p95: percentile(recent, 95) } }
        : {}),
    };
  }

  forget(endpoint: string): void {
    this.byEndpoint.delete(endpoint);
  }
}
