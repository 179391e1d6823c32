import { driftStep } from '@cairn/tabular';

/**
 * Drift monitoring: compares the live data (`ingest` called again as `live`,
 * conf/base/live.yaml) with the training data, column by column — PSI and a
 * Kolmogorov–Smirnov test for measurements, PSI and a χ² test for
 * categories, the change in missing values, columns that disappeared — and
 * writes `drift` (JSON) and `report` (HTML, a chart per column). Thresholds
 * are in conf/base/drift.yaml.
 *
 * Like the gate, it never fails the run for drift: `cairn drift latest` reads
 * the result and exits 1, which `npm run monitor` turns into a retraining run.
 */
export const drift = driftStep();
