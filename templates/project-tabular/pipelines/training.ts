import { pipeline } from '@cairn/core';
import { evaluate } from '../steps/evaluate';
import { ingest } from '../steps/ingest';
import { train } from '../steps/train';

/** ingest → train → evaluate: each step's outputs are typed handles wired into the next. */
export default pipeline('training', () => {
  const { rows } = ingest();
  const { model, holdout } = train({ rows });
  evaluate({ model, holdout });
});
