// Checks the provider against what OpenFeature asks of a server provider (values, variants, reasons,
// error codes with the default value served) and against GrowthBook assignment, through the real SDK.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAbtest } from '@cairn/abtest-local';
import type { AbTestEngine } from '@cairn/core';
import { GrowthBook } from '@growthbook/growthbook';
import {
  ErrorCode,
  type EvaluationContext,
  OpenFeature,
  StandardResolutionReasons,
} from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CairnProvider, cairnProvider } from '../src/index';

// A real engine on a real SQLite file, read through the real SDK: the provider is set on a domain of the
// global OpenFeature API exactly as an application would set it.
let stateDir: string;
let engine: AbTestEngine;
let provider: CairnProvider;
const DOMAIN = 'cairn-provider-test';
const client = () => OpenFeature.getClient(DOMAIN);

const WEIGHTS = [50, 30, 20];
const VARIANTS = ['control', 'blue', 'green'];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cairn-openfeature-'));
  engine = await localAbtest().create({ stateDir });
  await engine.createExperiment({
    name: 'button-color',
    variants: VARIANTS.map((name, i) => ({
      name,
      weight: WEIGHTS[i]!,
      payload: { color: name, enabled: i > 0, size: 10 + i },
    })),
    primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
    coverage: 0.8,
  });
  await engine.createExperiment({
    name: 'threshold',
    variants: [
      { name: 'low', weight: 1, payload: 0.25 },
      { name: 'high', weight: 1, payload: 0.75 },
    ],
    primaryMetric: { name: 'revenue', type: 'continuous', goal: 'increase' },
  });
  await engine.createExperiment({
    name: 'new-ranker',
    variants: [
      { name: 'off', weight: 1, payload: false },
      { name: 'on', weight: 1, payload: true },
    ],
    primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
  });
  provider = cairnProvider({ engine });
  await OpenFeature.setProviderAndWait(DOMAIN, provider);
});

afterAll(async () => {
  await OpenFeature.clearProviders();
  await engine?.close();
  await rm(stateDir, { recursive: true, force: true });
});

/** GrowthBook's own SDK on the same experiment: -1 when the unit is outside coverage. */
function growthBookVariant(seed: string, id: string, weights: number[], coverage: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  const result = new GrowthBook({ attributes: { id } }).run({
    key: seed,
    seed,
    variations: weights.map((_, i) => i) as [number, number, ...number[]],
    weights: weights.map((w) => w / total),
    coverage,
    hashVersion: 2,
  });
  return result.inExperiment ? result.variationId : -1;
}

describe('evaluating a flag as an experiment variant', () => {
  it('gives every unit the variant GrowthBook gives it, with reason SPLIT inside coverage and DEFAULT outside', async () => {
    const counts = { split: 0, outside: 0 };
    for (let i = 0; i < 400; i++) {
      const unit = `user-${i}`;
      const details = await client().getStringDetails('button-color', 'fallback', { targetingKey: unit });
      const expected = growthBookVariant('button-color', unit, WEIGHTS, 0.8);
      expect(details.errorCode).toBeUndefined();
      if (expected === -1) {
        counts.outside++;
        expect(details.value).toBe('control');
        expect(details.reason).toBe(StandardResolutionReasons.DEFAULT);
        expect(details.flagMetadata.inExperiment).toBe(false);
      } else {
        counts.split++;
        expect(details.value).toBe(VARIANTS[expected]);
        expect(details.variant).toBe(VARIANTS[expected]);
        expect(details.reason).toBe(StandardResolutionReasons.SPLIT);
      }
    }
    // Both paths were exercised (coverage 0.8 of 400 units).
    expect(counts.outside).toBeGreaterThan(20);
    expect(counts.split).toBeGreaterThan(250);
  });

  it('agrees with the engine: the same unit gets the same variant in a second provider over the same file', async () => {
    const second = await localAbtest().create({ stateDir });
    const other = cairnProvider({ engine: second, recordExposures: false });
    await OpenFeature.setProviderAndWait('second', other);
    try {
      for (let i = 0; i < 50; i++) {
        const ctx = { targetingKey: `agree-${i}` };
        const a = await client().getStringValue('threshold', 'x', ctx);
        const b = await OpenFeature.getClient('second').getStringValue('threshold', 'y', ctx);
        expect(a).toBe(b);
        expect(a).toBe((await engine.assign('threshold', ctx.targetingKey)).variant);
      }
    } finally {
      await second.close();
    }
  });

  it('reads payloads for boolean, number and object flags', async () => {
    const ctx = { targetingKey: 'payload-user' };
    const variant = (await engine.assign('new-ranker', ctx.targetingKey)).variant;
    const on = await client().getBooleanDetails('new-ranker', variant !== 'on', ctx);
    expect(on.value).toBe(variant === 'on');
    expect(on.variant).toBe(variant);

    const threshold = await client().getNumberDetails('threshold', -1, ctx);
    const thresholdVariant = (await engine.assign('threshold', ctx.targetingKey)).variant;
    expect(threshold.value).toBe(thresholdVariant === 'low' ? 0.25 : 0.75);

    // Find a unit inside coverage so the object is a treatment's or the control's payload by assignment.
    const object = await client().getObjectDetails('button-color', {}, ctx);
    const assigned = await engine.assign('button-color', ctx.targetingKey);
    expect(object.value).toEqual(assigned.payload);
    expect(object.variant).toBe(assigned.variant);
  });

  it('records one exposure per unit inside the experiment, and none for units outside coverage', async () => {
    const before = (await engine.analyze('button-color')).exposures;
    const units = Array.from({ length: 60 }, (_, i) => `exposed-${i}`);
    for (const unit of units) {
      // Three reads of one unit: the engine keeps the first exposure only.
      for (let k = 0; k < 3; k++) await client().getStringValue('button-color', 'x', { targetingKey: unit });
    }
    await provider.flush();
    const after = (await engine.analyze('button-color')).exposures;
    const expected: Record<string, number> = {};
    for (const unit of units) {
      const v = growthBookVariant('button-color', unit, WEIGHTS, 0.8);
      if (v >= 0) expected[VARIANTS[v]!] = (expected[VARIANTS[v]!] ?? 0) + 1;
    }
    for (const name of VARIANTS) {
      expect((after[name] ?? 0) - (before[name] ?? 0), name).toBe(expected[name] ?? 0);
    }
  });

  it('records nothing when recordExposures is false', async () => {
    const quiet = cairnProvider({ engine, recordExposures: false });
    await OpenFeature.setProviderAndWait('quiet', quiet);
    const before = (await engine.analyze('threshold')).exposures;
    for (let i = 0; i < 20; i++) {
      await OpenFeature.getClient('quiet').getStringValue('threshold', 'x', { targetingKey: `quiet-${i}` });
    }
    await quiet.flush();
    expect((await engine.analyze('threshold')).exposures).toEqual(before);
  });

  it('records outcomes through client.track, once per eventId', async () => {
    const unit = 'tracked-user';
    await client().getStringValue('new-ranker', 'off', { targetingKey: unit });
    await provider.flush();
    for (let k = 0; k < 2; k++) {
      client().track('clicked', { targetingKey: unit }, { experiment: 'new-ranker', eventId: 'click-1' });
    }
    await provider.flush();
    const variant = (await engine.assign('new-ranker', unit)).variant;
    const summary = (await engine.analyze('new-ranker')).primary.variants.find((v) => v.variant === variant)!;
    // One exposed unit that converted: the mean of its variant is 1.
    expect(summary.units).toBeGreaterThanOrEqual(1);
    expect(summary.mean * summary.units).toBe(1);
  });

  it('takes a numeric eventId as an id too: the same one twice counts once', async () => {
    const unit = 'paying-user';
    await client().getNumberValue('threshold', 0, { targetingKey: unit });
    await provider.flush();
    for (let k = 0; k < 2; k++) {
      client().track('revenue', { targetingKey: unit }, { experiment: 'threshold', value: 10, eventId: 7 });
    }
    await provider.flush();
    const variant = (await engine.assign('threshold', unit)).variant;
    const summary = (await engine.analyze('threshold')).primary.variants.find((v) => v.variant === variant)!;
    // The unit's revenue is 10, not 20: the second event with id 7 was the same event.
    expect(summary.mean * summary.units).toBeCloseTo(10, 9);
  });

  it('serves the winner with reason STATIC once the experiment is concluded, and records no exposure', async () => {
    await engine.createExperiment({
      name: 'concluded-one',
      variants: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1 },
      ],
      primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
    });
    await engine.conclude('concluded-one', { winner: 'b', reason: 'test' });
    for (let i = 0; i < 10; i++) {
      const details = await client().getStringDetails('concluded-one', 'a', { targetingKey: `late-${i}` });
      expect(details.value).toBe('b');
      expect(details.reason).toBe(StandardResolutionReasons.STATIC);
    }
    await provider.flush();
    expect((await engine.analyze('concluded-one')).exposures).toEqual({ a: 0, b: 0 });
  });
});

describe('errors are OpenFeature errors and the default value is served', () => {
  it('FLAG_NOT_FOUND for an unknown experiment', async () => {
    const details = await client().getStringDetails('no-such-experiment', 'fallback', { targetingKey: 'u1' });
    expect(details).toMatchObject({
      value: 'fallback',
      reason: StandardResolutionReasons.ERROR,
      errorCode: ErrorCode.FLAG_NOT_FOUND,
    });
    expect(details.errorMessage).toContain('no-such-experiment');
  });

  it('TARGETING_KEY_MISSING without a targeting key, or with an empty one', async () => {
    for (const context of [{}, { targetingKey: '' }] as EvaluationContext[]) {
      const details = await client().getStringDetails('button-color', 'fallback', context);
      expect(details).toMatchObject({
        value: 'fallback',
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.TARGETING_KEY_MISSING,
      });
    }
  });

  it('TYPE_MISMATCH when the payload is not of the flag type', async () => {
    const asNumber = await client().getNumberDetails('new-ranker', 7, { targetingKey: 'u2' });
    expect(asNumber).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
    const asBoolean = await client().getBooleanDetails('button-color', true, { targetingKey: 'u2' });
    expect(asBoolean).toMatchObject({ value: true, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('refuses bad options when created, and an evaluation before initialize', async () => {
    expect(() => cairnProvider({ engine: {} as never })).toThrow(/openfeature-provider: engine/);
    try {
      cairnProvider({ engine: 'nope' as never });
      expect.unreachable();
    } catch (error) {
      expect((error as { code: string }).code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
    }
    expect(() => cairnProvider({ engine, recordExposures: 'yes' as never })).toThrow(/recordExposures/);
    expect(() => cairnProvider({ engine, stateDir: '' })).toThrow(/stateDir/);
    const unopened = cairnProvider({ engine: localAbtest(), stateDir });
    await expect(
      unopened.resolveStringEvaluation('button-color', 'x', { targetingKey: 'u' }, console),
    ).rejects.toThrow(/not initialized/);
  });
});

describe('a provider built from the stack descriptor', () => {
  it('opens the engine on initialize, reads the same file, and closes it on close', async () => {
    const own = cairnProvider({ engine: localAbtest(), stateDir, recordExposures: false });
    await OpenFeature.setProviderAndWait('descriptor', own);
    const value = await OpenFeature.getClient('descriptor').getStringValue('threshold', 'x', {
      targetingKey: 'd-1',
    });
    expect(value).toBe((await engine.assign('threshold', 'd-1')).variant);
    await own.onClose!();
    await expect(
      own.resolveStringEvaluation('threshold', 'x', { targetingKey: 'd-1' }, console),
    ).rejects.toThrow(/not initialized/);
  });
});
