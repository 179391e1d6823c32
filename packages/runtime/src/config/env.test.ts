// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax under test, not a mistyped template.
import { CairnError } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { hasEnvRefs, resolveEnvRefs } from './env';

describe('resolveEnvRefs', () => {
  const environment = { BUCKET: 'models', PW: 'hunter22', EMPTY: '' };

  it('replaces whole and embedded references in nested values without modifying the input', () => {
    const options = {
      bucket: '${env:BUCKET}',
      url: 'postgres://u:${env:PW}@h/db',
      nested: [{ b: '${env:EMPTY}x' }],
      n: 3,
    };
    const copy = structuredClone(options);
    expect(resolveEnvRefs(options, environment)).toEqual({
      bucket: 'models',
      url: 'postgres://u:hunter22@h/db',
      nested: [{ b: 'x' }],
      n: 3,
    });
    expect(options).toEqual(copy);
  });

  it('refuses an unterminated ${env:NAME instead of using it as a literal', () => {
    let error: unknown;
    try {
      resolveEnvRefs({ path: '${env:BUCKET}/${env:DATA_PATH' }, environment);
    } catch (caught) {
      error = caught;
    }
    expect(CairnError.is(error)).toBe(true);
    expect((error as CairnError).code).toBe('CAIRN_CONFIG_INVALID');
    expect((error as CairnError).issues).toEqual([
      { path: ['path'], message: expect.stringContaining('unterminated reference ${env:DATA_PATH') },
    ]);
  });

  it('keeps $${env:NAME} as the literal text', () => {
    expect(resolveEnvRefs('cost: $${env:BUCKET} ${env:BUCKET}', environment)).toBe(
      'cost: ${env:BUCKET} models',
    );
  });

  it('reads process.env by default', () => {
    process.env.CAIRN_TEST_ENV_REF = 'from-process';
    try {
      expect(resolveEnvRefs('${env:CAIRN_TEST_ENV_REF}')).toBe('from-process');
    } finally {
      delete process.env.CAIRN_TEST_ENV_REF;
    }
  });

  it('throws CAIRN_CONFIG_ENV_MISSING naming every unset variable and its key', () => {
    let error: unknown;
    try {
      resolveEnvRefs({ a: '${env:NOPE_A}', b: { c: 'x${env:NOPE_B}', d: '${env:PW}' } }, environment);
    } catch (caught) {
      error = caught;
    }
    expect(CairnError.is(error)).toBe(true);
    const cairn = error as CairnError;
    expect(cairn.code).toBe('CAIRN_CONFIG_ENV_MISSING');
    expect(cairn.issues.map((issue) => [issue.path, issue.message.split(' ')[2]])).toEqual([
      [['a'], 'NOPE_A'],
      [['b', 'c'], 'NOPE_B'],
    ]);
    expect(cairn.message).not.toContain('hunter22');
  });

  it('refuses a malformed reference with CAIRN_CONFIG_INVALID', () => {
    expect(() => resolveEnvRefs({ a: '${env:1BAD}' }, environment)).toThrow(
      expect.objectContaining({ code: 'CAIRN_CONFIG_INVALID' }),
    );
  });
});

describe('hasEnvRefs', () => {
  it('finds references anywhere, but not escaped ones', () => {
    expect(hasEnvRefs({ a: [1, { b: 'x ${env:Y}' }] })).toBe(true);
    expect(hasEnvRefs('$${env:Y}')).toBe(false);
    expect(hasEnvRefs({ a: 'env:Y', b: 2, c: null })).toBe(false);
  });
});
