// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax under test, not a mistyped template.
import { CairnError } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { envRefNames, hasEnvRefs, resolveEnvRefs } from './env';

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

describe('envRefNames', () => {
  it('names each referenced variable once, walking objects, and leaves literals out', () => {
    const value = {
      url: 'postgres://app:${env:PG_PASSWORD}@${env:PG_HOST}/db',
      nested: [{ bucket: '${env:BUCKET}' }, '${env:PG_HOST}', '$${env:LITERAL}'],
      count: 3,
    };
    expect(envRefNames(value)).toEqual({ names: ['PG_PASSWORD', 'PG_HOST', 'BUCKET'], problems: [] });
  });

  it('reports what no environment could resolve: a malformed name, an unterminated reference', () => {
    const { names, problems } = envRefNames({ a: '${env:9LIVES}', b: 'x ${env:OPEN' });
    expect(names).toEqual([]);
    expect(problems).toEqual([
      { kind: 'malformed', path: ['a'], name: '9LIVES' },
      { kind: 'unterminated', path: ['b'], name: 'OPEN' },
    ]);
  });

  it('survives a cycle in a plugin object', () => {
    const plugin: Record<string, unknown> = { token: '${env:TOKEN}' };
    plugin.self = plugin;
    expect(envRefNames(plugin).names).toEqual(['TOKEN']);
  });
});
