/**
 * @cairn/stats — the statistics behind Cairn's A/B testing and monitoring:
 * distributions, frequentist, Bayesian and sequential comparisons,
 * GrowthBook-compatible assignment hashing and drift measures. Pure
 * functions, no I/O and no dependencies.
 */
export * from './bayes';
export * from './cuped';
export * from './distributions';
export * from './drift';
export * from './hashing';
export * from './random';
export * from './sequential';
export * from './summary';
export * from './tests';
