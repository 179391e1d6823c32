import { describe, expect, it } from 'vitest';
import { file, json } from './artifacts/builtin';
import { CairnError } from './errors';
import { commandStep } from './step';

function failure(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

describe('commandStep', () => {
  it('refuses an unknown placeholder when the step is defined, before any run', () => {
    const error = failure(() =>
      commandStep({
        name: 'train',
        inputs: { data: file() },
        outputs: { model: file() },
        command: 'python train.py --config {confg} --data {inputs.data} --out {outputs.modle}',
      }),
    );
    expect(error.code).toBe('CAIRN_STEP_INVALID');
    expect(error.issues.map((issue) => issue.message)).toEqual([
      expect.stringContaining('unknown placeholder {confg}'),
      expect.stringContaining('unknown placeholder {outputs.modle}'),
    ]);
    expect(error.issues[0]!.message).toContain('{outputs.model}');
  });

  it('accepts every placeholder the runner substitutes', () => {
    expect(() =>
      commandStep({
        name: 'train',
        inputs: { data: file() },
        outputs: { metrics: json() },
        command: 'run {config} {inputs} {outputs} {workdir} {inputs.data} {outputs.metrics}',
      }),
    ).not.toThrow();
  });
});
