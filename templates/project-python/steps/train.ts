import { file, json, model } from '@cairn/core';
import { z } from 'zod';
import { pythonStep } from '../src/python-step';
import type { Validation } from './validate';

/**
 * Training (python/train.py): a seeded scikit-learn random forest on the
 * training split, packaged as a `python` model bundle whose entry is
 * python/predict.py (listed in `sources`: it is copied into the bundle).
 */
export const train = pythonStep({
  name: 'train',
  description: 'Split the data and fit a scikit-learn random forest',
  script: 'python/train.py',
  sources: ['python/predict.py'],
  config: z.strictObject({
    target: z.string().min(1),
    numeric: z.array(z.string().min(1)),
    categorical: z.array(z.string().min(1)),
    /** Share of the rows held out for evaluation. */
    testFraction: z.number().gt(0).lt(1),
    seed: z.number().int(),
    trees: z.number().int().positive(),
    maxDepth: z.number().int().positive(),
    minSamplesLeaf: z.number().int().positive(),
  }),
  // The validation report is an input so that training waits for (and is tied to) data that passed.
  inputs: { data: file(), validation: json<Validation>() },
  outputs: { model: model(), test: file() },
});
