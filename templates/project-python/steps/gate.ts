import { promotionGateStep } from '@cairn/delivery';

/**
 * The promotion gate: compares the registered candidate with the version in
 * production on the metric of conf/base/gate.yaml, promotes it only when it
 * is better by the required margin, and writes the decision as an artifact
 * that `cairn gate` reads in CI.
 */
export const gate = promotionGateStep();
