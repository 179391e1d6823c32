import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { asChunks, hashCounter, hashStream, verifiedStream } from './verify';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const text = (value: string) => new TextEncoder().encode(value);

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield text(part);
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += new TextDecoder().decode(chunk);
  return out;
}

describe('verify helpers', () => {
  it('hashCounter counts and hashes as chunks arrive', () => {
    const counter = hashCounter();
    counter.update(text('hello '));
    counter.update(text('world'));
    expect(counter.size).toBe(11);
    expect(counter.digest()).toBe(sha256(text('hello world')));
  });

  it('verifiedStream passes good bytes through unchanged', async () => {
    expect(await drain(verifiedStream(chunks('ab', 'cd'), sha256(text('abcd'))))).toBe('abcd');
  });

  it('verifiedStream fails at the end with CAIRN_ARTIFACT_CORRUPT naming the digest', async () => {
    const digest = sha256(text('abcd'));
    const error = await drain(verifiedStream(chunks('ab', 'cX'), digest)).catch((e) => e);
    expect(error).toMatchObject({ code: 'CAIRN_ARTIFACT_CORRUPT' });
    expect(error.message).toContain(digest);
    await expect(drain(verifiedStream(chunks('abcd'), digest, { size: 5 }))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_CORRUPT',
    });
  });

  it('hashStream and asChunks accept bytes and streams alike', async () => {
    expect(await hashStream(asChunks(text('xyz')))).toEqual({ digest: sha256(text('xyz')), size: 3 });
    expect(await hashStream(asChunks(chunks('x', 'y', 'z')))).toEqual({
      digest: sha256(text('xyz')),
      size: 3,
    });
    await expect(
      hashStream(
        asChunks(
          (async function* () {
            yield 'text' as never;
          })(),
        ),
      ),
    ).rejects.toMatchObject({
      code: 'CAIRN_STORAGE_FAILED',
    });
  });
});
