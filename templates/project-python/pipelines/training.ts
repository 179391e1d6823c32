import { pipeline } from '@cairn/core';
import { deploy } from '../steps/deploy';
import { evaluate } from '../steps/evaluate';
import { gate } from '../steps/gate';
import { ingest } from '../steps/ingest';
import { register } from '../steps/register';
import { train } from '../steps/train';
import { validate } from '../steps/validate';

/**
 * ingest → validate → train → evaluate → register → gate → deploy. The work
 * of the first four is Python (python/*.py); the wiring is TypeScript, so
 * the compiler checks every wire (a model cannot go where a file is
 * expected), and register, gate and deploy are Cairn's delivery steps.
 */
export const training = pipeline(
  'training',
  () => {
    const { data } = ingest();
    const { validation } = validate({ data });
    const { model, test } = train({ data, validation });
    const { metrics } = evaluate({ model, test });
    const { registration } = register({ model, metrics });
    const { decision } = gate({ registration });
    deploy({ decision });
  },
  { description: 'Train (Python), evaluate, register, gate and deploy the model', module: import.meta.url },
);

export default training;
