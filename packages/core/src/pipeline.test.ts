import { describe, expect, it } from 'vitest';
import { json, metrics, model } from './artifacts/builtin';
import { ErrorCodes } from './errors';
import { pipeline } from './pipeline';
import { step } from './step';

const produce = step({
  name: 'produce',
  outputs: { numbers: json<number[]>(), score: metrics() },
  run: () => ({ numbers: [1], score: { a: 1 } }),
});
const consume = step({
  name: 'consume',
  inputs: { numbers: json<number[]>() },
  outputs: { out: json<number>() },
  run: () => ({ out: 1 }),
});
const needsModel = step({
  name: 'needs-model',
  inputs: { model: model() },
  outputs: { out: json<number>() },
  run: () => ({ out: 1 }),
});

describe('pipeline()', () => {
  it('orders nodes producers first and answers descendants', () => {
    const p = pipeline('ok', () => {
      const { numbers } = produce();
      consume({ numbers });
      consume({ numbers }, { as: 'consume-again' });
    });
    expect(p.nodes.map((n) => n.name)).toEqual(['produce', 'consume', 'consume-again']);
    expect([...p.descendants('produce')].sort()).toEqual(['consume', 'consume-again']);
    expect(p.node('consume')?.inputs.numbers).toEqual({ node: 'produce', output: 'numbers', type: 'json' });
    expect(p.module).toMatch(/pipeline\.test\.ts$/);
  });

  it("orders by Kahn's algorithm from declaration order, a producer wired twice counted once", () => {
    const both = step({
      name: 'both',
      inputs: { a: json<number>(), b: json<number>() },
      outputs: { out: json<number>() },
      run: () => ({ out: 1 }),
    });
    const p = pipeline('kahn', () => {
      const { numbers } = produce();
      const { out } = consume({ numbers }, { as: 'c1' });
      const second = produce(undefined, { as: 'p2' });
      both({ a: out, b: out }, { as: 't' });
      consume({ numbers: second.numbers }, { as: 'c2' });
    });
    // Sources first as declared, then each consumer once its producers are placed, first ready first.
    expect(p.nodes.map((n) => n.name)).toEqual(['produce', 'p2', 'c1', 'c2', 't']);
    expect([...p.descendants('c1')]).toEqual(['t']);
  });

  it('reports every wiring problem at once with a coded error', () => {
    let error: any;
    try {
      pipeline('bad', () => {
        const { numbers, score } = produce();
        consume({ numbers });
        consume({ numbers }); // duplicate name
        (needsModel as any)({ model: score }); // type mismatch: metrics is not a model
        (consume as any)({}); // missing input, duplicate again
        (consume as any)({ numbers, extra: numbers }, { as: 'with-extra' });
      });
    } catch (e) {
      error = e;
    }
    expect(error?.code).toBe(ErrorCodes.PIPELINE_INVALID);
    expect(error.message).toMatch(/duplicate step name "consume"/);
    expect(error.message).toMatch(
      /needs-model → inputs\.model: type mismatch: "produce\.score" is metrics, the input expects model/,
    );
    expect(error.message).toMatch(/inputs\.numbers: missing input \(expects json\)/);
    expect(error.message).toMatch(/with-extra → inputs\.extra: unknown input/);
  });

  it('refuses a step called outside a builder', () => {
    expect(() => (produce as any)()).toThrowError(
      expect.objectContaining({ code: ErrorCodes.PIPELINE_INVALID }),
    );
  });

  it('refuses a step definition with a bad name or a non-artifact output', () => {
    expect(() => step({ name: '../evil', outputs: {}, run: () => ({}) })).toThrowError(
      expect.objectContaining({ code: ErrorCodes.STEP_INVALID }),
    );
    expect(() => step({ name: 'x', outputs: { a: 'json' as any }, run: () => ({}) as any })).toThrowError(
      /outputs\.a/,
    );
  });
});
