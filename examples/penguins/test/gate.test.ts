import type { GateDecision } from '@cairn/delivery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, sandbox } from './helpers';

let box: Sandbox;
beforeAll(async () => {
  box = await sandbox();
});
afterAll(() => box.dispose());

/** Train with these hyperparameters over conf/base/train.yaml; return the gate's decision and the model's macro-F1. */
async function trainWith(train: Record<string, unknown>) {
  const result = await box.run({ overrides: { train } });
  expect(result.error).toBeUndefined();
  const decision = await box.readJson<GateDecision>(result.steps.gate!.outputs.decision!);
  const scores = await box.readJson<Record<string, number>>(result.steps.evaluate!.outputs.metrics!);
  expect(decision.candidate.value).toBe(scores.macro_f1);
  return { decision, macroF1: scores.macro_f1! };
}

const production = async () => (await box.metadata.getModelByStage('penguins', 'production'))?.version;

describe('the promotion gate', () => {
  it('refuses a worse model, keeps production, and promotes a better one', async () => {
    // A small forest of shallow trees: decent, the first model, straight to production.
    const baseline = await trainWith({ trees: 3, maxDepth: 2 });
    expect(baseline.decision).toMatchObject({
      decision: 'promoted',
      stage: 'production',
      candidate: { version: 1 },
    });
    expect(await production()).toBe(1);

    // One decision stump cannot separate three species: really worse.
    const stump = await trainWith({ trees: 1, maxDepth: 1 });
    expect(stump.macroF1).toBeLessThan(baseline.macroF1 - 0.1);
    expect(stump.decision).toMatchObject({
      decision: 'kept',
      candidate: { version: 2 },
      production: { version: 1, value: baseline.macroF1 },
      failsCi: true,
    });
    expect(stump.decision.reason).toMatch(/worse than production by more than the allowed 0\.0200/);
    expect(await production()).toBe(1);
    expect((await box.metadata.getModelVersion('penguins', 2))?.stage).toBe('none');

    // The project's configured forest: better by more than minImprovement, promoted.
    const better = await trainWith({});
    expect(better.macroF1).toBeGreaterThan(baseline.macroF1 + 0.005);
    expect(better.decision).toMatchObject({
      decision: 'promoted',
      stage: 'production',
      candidate: { version: 3 },
    });
    expect(await production()).toBe(3);
    expect((await box.metadata.getModelVersion('penguins', 1))?.stage).toBe('archived');

    const history = await box.metadata.modelHistory('penguins');
    const promotions = history.filter((t) => t.accepted && t.to === 'production');
    expect(promotions.map((t) => t.version)).toEqual([1, 3]);
    expect(promotions[1]!.reason).toMatch(/^macro_f1 0\.\d{4} vs production v1 0\.\d{4}/);
  });
});

describe('the ci environment', () => {
  it('sends a winning candidate to staging and fails a run below the macro-F1 floor', async () => {
    const ci = await sandbox();
    try {
      const good = await ci.run({ env: 'ci' });
      expect(good.status).toBe('succeeded');
      const decision = await ci.readJson<GateDecision>(good.steps.gate!.outputs.decision!);
      expect(decision).toMatchObject({ decision: 'promoted', stage: 'staging' });
      expect(await ci.metadata.getModelByStage('penguins', 'production')).toBeUndefined();
      expect((await ci.metadata.getModelByStage('penguins', 'staging'))?.version).toBe(1);

      // conf/ci/evaluate.yaml raises the floor to 0.9: a stump's run fails at evaluate, before registering.
      const stump = await ci.run({ env: 'ci', overrides: { train: { trees: 1, maxDepth: 1 } } });
      expect(stump.status).toBe('failed');
      expect(stump.error).toMatchObject({ step: 'evaluate', code: 'CAIRN_GATE_REFUSED' });
      expect(stump.error?.message).toMatch(/below the floor minMacroF1 = 0\.9/);
      expect(stump.steps.register!.status).toBe('skipped');
      expect(await ci.metadata.listModelVersions('penguins')).toHaveLength(1);
    } finally {
      await ci.dispose();
    }
  });
});
