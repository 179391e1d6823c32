/**
 * @cairn/testkit — the conformance suites every Cairn plugin runs against
 * itself (ours and a platform team's alike), and helpers to test steps and
 * pipelines.
 */

export * from './abtest';
export * from './deployer';
export * from './executor';
/** Pipelines the executor suite runs; exported so out-of-process workers can find them in the built package. */
export * as executorFixtures from './fixtures/executor-pipelines';
// in-memory stores: complete, conforming plugins for tests of steps, pipelines and other plugins
export * from './memory/metadata';
export * from './memory/storage';
export * from './metadata';
export * from './ports';
export * from './storage';
