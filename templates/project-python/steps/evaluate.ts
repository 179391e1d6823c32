import { file, metrics, model, report } from '@cairn/core';
import { z } from 'zod';
import { pythonStep } from '../src/python-step';

/**
 * Offline evaluation (python/evaluate.py): the held-out rows through the
 * bundle's own predict.py, as the model server runs it. Fails the run below
 * the macro-F1 floor of conf/base/evaluate.yaml.
 */
export const evaluate = pythonStep({
  name: 'evaluate',
  description: 'Score the model on the held-out rows',
  script: 'python/evaluate.py',
  config: z.strictObject({
    /** A floor, not the promotion gate: a model this bad fails the run. */
    minMacroF1: z.number().min(0).max(1),
  }),
  inputs: { model: model(), test: file() },
  outputs: { metrics: metrics(), report: report() },
});
