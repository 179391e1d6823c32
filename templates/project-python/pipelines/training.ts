import { pipeline } from '@cairn/core';
import { deploy } from '../steps/deploy';
import { evaluate } from '../steps/evaluate';
import { gate } from '../steps/gate';
import { holdout } from '../steps/holdout';
import { ingest } from '../steps/ingest';
import { loadtest } from '../steps/loadtest';
import { register } from '../steps/register';
import { train } from '../steps/train';
import { validate } from '../steps/validate';

/**
 * ingest → validate → train → evaluate → register → gate → loadtest →
 * deploy. The work of the first four is Python (python/*.py); the wiring is
 * TypeScript, so the compiler checks every wire (a model cannot go where a
 * file is expected), and register, gate, loadtest and deploy are Cairn's
 * delivery steps. The load test replays the held-out rows, read into a table
 * by `holdout`; the deploy step takes the gate's decision from the load test,
 * so a candidate that is too slow is never deployed.
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
    const { rows } = holdout({ test });
    const { decision: cleared } = loadtest({ decision, rows });
    deploy({ decision: cleared });
  },
  {
    description: 'Train (Python), evaluate, register, gate, load-test and deploy the model',
    module: import.meta.url,
  },
);

export default training;
