import { CairnError, ErrorCodes, json, metrics, step } from '@cairn/core';
import { z } from 'zod';
import type { Row } from './ingest';
import { type CentroidModel, predict } from './train';

export function accuracy(model: CentroidModel, rows: Row[]): number {
  if (rows.length === 0) return 0;
  const correct = rows.filter((row) => predict(model, row) === String(row[model.label])).length;
  return correct / rows.length;
}

export const evaluate = step({
  name: 'evaluate',
  description: 'Score the model on held-out rows; the gate fails the run below minAccuracy',
  config: z.object({ minAccuracy: z.number().min(0).max(1) }),
  inputs: { model: json<CentroidModel>(), holdout: json<Row[]>() },
  outputs: { metrics: metrics() },
  async run({ config, inputs, log }) {
    const score = accuracy(inputs.model, inputs.holdout);
    log.info(
      `accuracy ${score.toFixed(3)} on ${inputs.holdout.length} held-out rows (gate: ${config.minAccuracy})`,
    );
    if (score < config.minAccuracy) {
      throw new CairnError(
        ErrorCodes.GATE_REFUSED,
        `accuracy ${score.toFixed(3)} is below the gate of ${config.minAccuracy}`,
        {
          hint: 'Improve the model or lower evaluate.minAccuracy in conf/.',
        },
      );
    }
    return { metrics: { accuracy: score, holdoutRows: inputs.holdout.length } };
  },
});
