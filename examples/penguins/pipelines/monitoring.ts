import { pipeline } from '@cairn/core';
import { canaryReview } from '../steps/canary-review';
import { current } from '../steps/current';
import { drift } from '../steps/drift';
import { ingest } from '../steps/ingest';

/**
 * ingest (training data) + current (what the model server answered, from its
 * prediction log; the live data file, `ingest` again as the node `live`
 * with conf/base/live.yaml, when too few rows were served) → drift. `npm run
 * monitor` runs this on a schedule and retrains when the current data has
 * drifted. Beside it, canary-review judges
 * the endpoint's canary by its A/B experiment and promotes or rolls it back.
 */
export const monitoring = pipeline(
  'monitoring',
  () => {
    const { data: reference } = ingest();
    const { data: live } = ingest({}, { as: 'live' });
    const { reference: compared, current: served } = current({ reference, live });
    drift({ reference: compared, current: served });
    canaryReview();
  },
  {
    description:
      'Compare the served (or live) data with the training data, and judge the canary by its experiment',
    module: import.meta.url,
  },
);

export default monitoring;
