import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

describe('cairn gate on a run that failed before its gate step', () => {
  let dir: string;

  beforeAll(async () => {
    const cwd = await tempDir('gate');
    const made = await cairn(['new', 'gate-proj', '--link', '--no-git'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'gate-proj');
  });

  it('says the gate did not run, naming the failing step and its error, not "add a gate step"', async () => {
    const run = await cairn(
      ['run', '--set', 'train.trees=1', '--set', 'train.maxDepth=1', '--set', 'evaluate.minMacroF1=0.99'],
      dir,
    );
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const runId = (JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as Array<{ id: string }>)[0]!.id;

    const gate = await cairn(['gate', 'latest'], dir);
    expect(gate.code).toBe(2);
    const stderr = gate.stderr.replace(/\s*\n ›\s+/g, ' ');
    expect(stderr).toContain(`The gate did not run in run ${runId}: step evaluate failed`);
    expect(stderr).toMatch(/below the floor minMacroF1/);
    expect(stderr).not.toMatch(/Add a gate step/);
  });
});
