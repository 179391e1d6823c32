import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

describe('a project made with cairn new --link, given bad input', () => {
  let dir: string;

  beforeAll(async () => {
    const cwd = await tempDir('gate');
    const made = await cairn(['new', 'gate-proj', '--link', '--no-git'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'gate-proj');
  });

  const runCount = async () =>
    (JSON.parse((await cairn(['runs', '--json'], dir)).stdout) as unknown[]).length;
  const oneLine = (text: string) => text.replace(/\s*\n ›\s+/g, ' ');

  it('refuses a typo in a step config file (plain z.object) at its line with a suggestion, running nothing', async () => {
    const file = join(dir, 'conf', 'base', 'train.yaml');
    const original = readFileSync(file, 'utf8');
    const lines = original.split('\n');
    const at = lines.findIndex((line) => line.startsWith('maxDepth:'));
    lines[at] = lines[at]!.replace('maxDepth', 'maxDepht');
    writeFileSync(file, lines.join('\n'));
    try {
      const before = await runCount();
      const result = await cairn(['run'], dir);
      expect(result.code).toBe(2);
      const stderr = oneLine(result.stderr);
      expect(stderr).toContain(
        `conf/base/train.yaml:${at + 1} → maxDepht: unknown key (did you mean \`maxDepth\`?)`,
      );
      expect(stderr).toContain('Code: CAIRN_CONFIG_INVALID');
      expect(await runCount()).toBe(before);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('refuses a --set typo and a YAML alias with exit 2, running nothing', async () => {
    const before = await runCount();
    const typo = await cairn(['run', '--set', 'train.tress=300'], dir);
    expect(typo.code).toBe(2);
    expect(oneLine(typo.stderr)).toContain('--set → train.tress: unknown key (did you mean `trees`?)');
    const alias = await cairn(['run', '--set', 'train.trees=*nope'], dir);
    expect(alias.code).toBe(2);
    expect(alias.stderr).toContain('Code: CAIRN_CONFIG_UNREADABLE');
    expect(await runCount()).toBe(before);
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
    const stderr = oneLine(gate.stderr);
    expect(stderr).toContain(`The gate did not run in run ${runId}: step evaluate failed`);
    expect(stderr).toMatch(/below the floor minMacroF1/);
    expect(stderr).not.toMatch(/Add a gate step/);
  });
});
