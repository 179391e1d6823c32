import { pipeline } from '@cairn/core';
import { canaryReview } from '../steps/canary-review';
import { drift } from '../steps/drift';
import { ingest } from '../steps/ingest';

/**
 * ingest (training data) + ingest as `live` (new data) → drift. The same
 * ingest step runs twice; the second node is named `live` and reads its own
 * config, conf/base/live.yaml. `npm run monitor` runs this on a schedule and
 * retrains when the live data has drifted. Beside it, canary-review judges
 * the endpoint's canary by its A/B experiment and promotes or rolls it back.
 */
export const monitoring = pipeline(
  'monitoring',
  () => {
    const { data: reference } = ingest();
    const { data: current } = ingest({}, { as: 'live' });
    drift({ reference, current });
    canaryReview();
  },
  {
    description: 'Compare live data with the training data, and judge the canary by its experiment',
    module: import.meta.url,
  },
);

export default monitoring;
