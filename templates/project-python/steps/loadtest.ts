import { loadTestStep } from '@cairn/delivery';

/**
 * The load test between the gate and the deploy: the candidate the gate
 * promoted is served under a staging endpoint of its own (never the
 * production one) by its own Python worker, the held-out rows are replayed
 * at it with autocannon, and its p50/p95/p99 latency, throughput and error
 * rate are written as `metrics` and an HTML `report`. A candidate that
 * breaks a threshold of conf/base/loadtest.yaml fails this step with
 * CAIRN_LOADTEST_FAILED and the numbers, so the deploy step after it never
 * runs.
 */
export const loadtest = loadTestStep();
