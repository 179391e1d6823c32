import { pipeline } from '@cairn/core';
import { drift } from '../steps/drift';
import { ingest } from '../steps/ingest';

/**
 * ingest (training data) + ingest as `live` (new data) → drift. The same
 * ingest step runs twice; the second node is named `live` and reads its own
 * config, conf/base/live.yaml. `npm run monitor` runs this on a schedule and
 * retrains when the live data has drifted.
 */
export const monitoring = pipeline(
  'monitoring',
  () => {
    const { data: reference } = ingest();
    const { data: current } = ingest({}, { as: 'live' });
    drift({ reference, current });
  },
  { description: 'Compare live data with the training data and report drift', module: import.meta.url },
);

export default monitoring;
