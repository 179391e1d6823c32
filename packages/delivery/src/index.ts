/**
 * @cairn/delivery — the model lifecycle: register a version, gate it
 * against production, deploy it (blue-green, canary, shadow), review a
 * canary by its A/B experiment. Each action is one function that the steps
 * here and the `cairn` CLI both call.
 */

export * from './deploy';
export * from './gate';
export * from './loadtest';
export * from './steps';
