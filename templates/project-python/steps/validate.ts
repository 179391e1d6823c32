import { file, json } from '@cairn/core';
import { z } from 'zod';
import { pythonStep } from '../src/python-step';

const column = z.strictObject({
  type: z.enum(['number', 'string']),
  min: z.number().optional(),
  max: z.number().optional(),
  allowed: z.array(z.union([z.string(), z.number()])).optional(),
  /** Largest share of missing values, 0–1. */
  maxMissing: z.number().min(0).max(1).default(0),
});

/** What validation found: rows, and per column its missing share, range or categories. */
export interface Validation {
  rows: number;
  columns: Record<string, { missing: number; min?: number; max?: number; categories?: string[] }>;
}

/**
 * Data validation (python/validate.py): the schema of conf/base/validate.yaml.
 * A violation fails the run, naming the column; nothing downstream runs.
 */
export const validate = pythonStep({
  name: 'validate',
  description: 'Check the data against its schema',
  script: 'python/validate.py',
  config: z.strictObject({
    minRows: z.number().int().min(1),
    columns: z.record(z.string(), column),
  }),
  inputs: { data: file() },
  outputs: { validation: json<Validation>() },
});
