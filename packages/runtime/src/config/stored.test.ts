// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromStored } from './stored';

const schema = z.object({
  url: z.string(),
  retries: z.coerce.number().int(),
  port: z.number().default(5432),
});

const stored = { url: 'db', retries: '${env:CAIRN_STORED_TEST_RETRIES}' };

/** Run `fn` with CAIRN_STORED_TEST_RETRIES set to `value`. */
async function withRetries<T>(value: string, fn: () => Promise<T>): Promise<T> {
  process.env.CAIRN_STORED_TEST_RETRIES = value;
  try {
    return await fn();
  } finally {
    delete process.env.CAIRN_STORED_TEST_RETRIES;
  }
}

describe('configFromStored: a stored config rebuilt where the step runs', () => {
  it('resolves ${env:…} from this environment, then parses with the schema (coercions, defaults)', async () => {
    const value = await withRetries('3', () => configFromStored('connect', stored, schema));
    expect(value).toEqual({ url: 'db', retries: 3, port: 5432 });
  });

  it('refuses what the schema refuses here with CAIRN_CONFIG_INVALID, naming the step and key', async () => {
    const refused = await withRetries('three', () => configFromStored('connect', stored, schema)).catch(
      (error: unknown) => error as { code?: string; message: string; issues?: unknown[] },
    );
    expect(refused).toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
    expect((refused as { message: string }).message).toMatch(/step "connect"/);
    expect((refused as { issues: unknown[] }).issues).toEqual([
      expect.objectContaining({ source: 'connect', path: ['retries'] }),
    ]);
  });

  it('names an unset variable with CAIRN_CONFIG_ENV_MISSING, and passes a config without schema through', async () => {
    await expect(
      configFromStored('connect', { url: '${env:CAIRN_STORED_TEST_UNSET}' }, schema),
    ).rejects.toMatchObject({ code: 'CAIRN_CONFIG_ENV_MISSING' });
    expect(await configFromStored('free', { a: 1 }, undefined)).toEqual({ a: 1 });
  });
});
