import { deployModelStep } from '@cairn/delivery';

/**
 * Delivery: deploys the production version of the model (whatever the gate
 * left there) behind the endpoint of conf/base/deploy.yaml, through the
 * stack's deployer (cairn.config.ts). Nothing changes when that version
 * already serves; `npx cairn serve` answers the traffic.
 */
export const deploy = deployModelStep();
