import { describe, expect, it } from 'vitest';
import { analyzeAggregates, type VariantAggregate } from '../src/analysis';
import { normalizeDefinition } from '../src/definition';

const definition = normalizeDefinition({
  name: 'three-arms',
  variants: [
    { name: 'control', weight: 1 },
    { name: 'b', weight: 1 },
    { name: 'c', weight: 1 },
  ],
  primaryMetric: { name: 'converted', type: 'binomial', goal: 'increase' },
  guardrailMetrics: [{ name: 'errors', type: 'binomial', goal: 'decrease' }],
});

/** Binomial aggregates: per-unit values are 0/1, so the sum of squares is the sum. */
const binomial = (counts: Record<string, [units: number, conversions: number]>): VariantAggregate[] =>
  Object.entries(counts).map(([variant, [units, sum]]) => ({ variant, units, sum, sumOfSquares: sum }));

function analyze(primary: VariantAggregate[], errors: VariantAggregate[]) {
  const exposures = Object.fromEntries(primary.map((a) => [a.variant, a.units]));
  return analyzeAggregates(
    definition,
    exposures,
    new Map([
      ['converted', primary],
      ['errors', errors],
    ]),
    '2026-01-01T00:00:00.000Z',
  );
}

const flatErrors = binomial({ control: [3000, 60], b: [3000, 60], c: [3000, 60] });

describe('decision over several treatments', () => {
  it('keeps the control when every treatment is worse, naming each with its numbers', () => {
    const result = analyze(binomial({ control: [3000, 450], b: [3000, 300], c: [3000, 280] }), flatErrors);
    expect(result.primary.comparisons.map((c) => c.verdict)).toEqual(['worse', 'worse']);
    expect(result.decision.action).toBe('keep-control');
    expect(result.decision.reason).toMatch(/b is worse on converted 10% vs 15%/);
    expect(result.decision.reason).toMatch(/c is worse on converted 9\.333% vs 15%/);
  });

  it('continues while one treatment is worse and the other undecided', () => {
    const result = analyze(binomial({ control: [3000, 450], b: [3000, 300], c: [3000, 455] }), flatErrors);
    expect(result.primary.comparisons.map((c) => c.verdict)).toEqual(['worse', 'inconclusive']);
    expect(result.decision.action).toBe('continue');
    expect(result.decision.reason).toContain('c');
  });

  it('ships the better treatment that no guardrail blocks, and keeps the control when the only better one is blocked', () => {
    const primary = binomial({ control: [3000, 300], b: [3000, 450], c: [3000, 420] });
    const bBreaks = binomial({ control: [3000, 60], b: [3000, 200], c: [3000, 60] });
    const shipped = analyze(primary, bBreaks);
    expect(shipped.primary.comparisons.map((c) => c.verdict)).toEqual(['better', 'better']);
    expect(shipped.guardrails[0]!.comparisons.map((c) => c.verdict)).toEqual(['worse', 'inconclusive']);
    expect(shipped.decision).toMatchObject({ action: 'ship', variant: 'c' });

    const unblocked = analyze(primary, flatErrors);
    expect(unblocked.decision).toMatchObject({ action: 'ship', variant: 'b' });

    const onlyB = analyze(binomial({ control: [3000, 300], b: [3000, 450], c: [3000, 200] }), bBreaks);
    expect(onlyB.decision.action).toBe('keep-control');
    expect(onlyB.decision.reason).toMatch(/b is better on converted but worse on errors/);
  });

  it('reports the expected counts and refuses to judge on a sample-ratio mismatch', () => {
    const result = analyze(binomial({ control: [3000, 300], b: [3000, 450], c: [2500, 420] }), flatErrors);
    expect(result.sampleRatio.expected).toEqual({
      control: 2833.3333333333335,
      b: 2833.3333333333335,
      c: 2833.3333333333335,
    });
    expect(result.sampleRatio.mismatch).toBe(true);
    expect(result.decision.action).toBe('invalid');
    expect(result.decision.reason).toMatch(/control 3000, b 3000, c 2500 against control 2833/);
  });

  it('says continue with empty variants instead of failing, before any exposure', () => {
    const result = analyze([], []);
    expect(result.exposures).toEqual({ control: 0, b: 0, c: 0 });
    expect(result.sampleRatio).toMatchObject({ pValue: 1, mismatch: false });
    expect(result.primary.comparisons.every((c) => c.verdict === 'inconclusive')).toBe(true);
    expect(result.decision.action).toBe('continue');
    expect(result.decision.reason).toContain('control has 0');
  });
});
