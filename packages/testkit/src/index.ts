/**
 * @cairn/testkit — the conformance suites every Cairn plugin runs against
 * itself (ours and a platform team's alike), and helpers to test steps and
 * pipelines.
 */
export * from './storage';
export * from './metadata';
export * from './executor';
