import { promotionGateStep } from '@cairn/delivery';

/**
 * The promotion gate: compares the registered candidate with the version in
 * production on the metric of conf/base/gate.yaml and promotes it only when
 * it is better by the required margin; writes the decision as an artifact.
 */
export const gate = promotionGateStep();
