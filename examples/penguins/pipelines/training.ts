import { pipeline } from '@cairn/core';
import { deploy } from '../steps/deploy';
import { evaluate } from '../steps/evaluate';
import { gate } from '../steps/gate';
import { ingest } from '../steps/ingest';
import { loadtest } from '../steps/loadtest';
import { prepare } from '../steps/prepare';
import { register } from '../steps/register';
import { train } from '../steps/train';
import { validate } from '../steps/validate';

/**
 * ingest → validate → prepare → train → evaluate → register → gate → loadtest →
 * deploy. Each call returns typed handles of the step's outputs; the compiler
 * checks every wire (a model cannot go where a table is expected). The deploy
 * step takes the gate's decision from the load test, so a candidate that is
 * too slow is never deployed.
 */
export const training = pipeline(
  'training',
  () => {
    const { data } = ingest();
    const { validation } = validate({ data });
    const { train: trainSet, test, preprocessor, spec } = prepare({ data, validation });
    const { model } = train({ train: trainSet, preprocessor, spec });
    const { metrics } = evaluate({ model, test });
    const { registration } = register({ model, metrics });
    const { decision } = gate({ registration });
    const { decision: cleared } = loadtest({ decision, rows: test });
    deploy({ decision: cleared });
  },
  { description: 'Train, evaluate, register, gate, load-test and deploy the model', module: import.meta.url },
);

export default training;
