import { CairnError } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { parseOverrides } from './overrides';

function failure(flags: string[]): CairnError {
  try {
    parseOverrides(flags);
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

describe('parseOverrides', () => {
  it('refuses YAML aliases (unknown anchor, alias bomb) as CAIRN_CONFIG_UNREADABLE without echoing the value', () => {
    const unknown = failure(['use.token=*nope']);
    expect(unknown.code).toBe('CAIRN_CONFIG_UNREADABLE');
    expect(unknown.issues).toMatchObject([{ source: '--set', path: ['use', 'token'] }]);
    expect(unknown.message).not.toContain('nope');
    const bomb = failure([
      'use.x=[&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], [*b,*b,*b,*b,*b,*b,*b,*b,*b]]',
    ]);
    expect(bomb.code).toBe('CAIRN_CONFIG_UNREADABLE');
  });

  it('nests dotted keys per step and lets later flags win', () => {
    expect(
      parseOverrides([
        'train.trees=300',
        'train.model.layers=[64, 32]',
        'train.trees=400',
        'evaluate.metric=f1',
      ]),
    ).toEqual({ train: { trees: 400, model: { layers: [64, 32] } }, evaluate: { metric: 'f1' } });
  });

  it('parses YAML scalars: numbers, booleans, null, quoted strings', () => {
    expect(
      parseOverrides(['s.a=3', 's.b=true', 's.c=~', 's.d="true"', 's.e=1e3', 's.f=0x10', 's.g=yes']),
    ).toEqual({
      s: { a: 3, b: true, c: null, d: 'true', e: 1000, f: 16, g: 'yes' },
    });
  });

  it('reports every malformed flag at once with CAIRN_CONFIG_OVERRIDE_INVALID', () => {
    const error = failure([
      'train',
      '=3',
      'train=3',
      'train..x=1',
      'train.x.=1',
      '1step.x=1',
      'train.x=[1, 2',
      'ok.x=1',
    ]);
    expect(error.code).toBe('CAIRN_CONFIG_OVERRIDE_INVALID');
    expect(error.issues).toHaveLength(7);
    expect(error.issues.every((issue) => issue.source === '--set')).toBe(true);
    expect(error.issues[0]!.message).toContain('no "="');
    expect(error.issues[1]!.message).toContain('empty key');
    expect(error.issues[2]!.message).toContain('names a step but no key');
    expect(error.issues[3]!.message).toContain('empty segment');
    expect(error.issues[5]!.message).toContain('not a step name');
    expect(error.issues[6]!.message).toContain('not valid YAML');
  });

  it('does not echo a value it cannot parse (it may be a secret)', () => {
    const error = failure(['db.password=[hunter2-secret']);
    expect(error.message).not.toContain('hunter2-secret');
  });

  it('refuses prototype keys', () => {
    const error = failure(['train.__proto__.polluted=1', 'train.constructor=1']);
    expect(error.issues).toHaveLength(2);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
