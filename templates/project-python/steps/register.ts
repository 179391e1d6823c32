import { registerModelStep } from '@cairn/delivery';

/**
 * Adds the trained model to the registry with its held-out metrics and the
 * run it came from (conf/base/register.yaml names the model).
 */
export const register = registerModelStep();
