import { chmod, mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore, testStorage } from '@cairn/testkit';
import { localStore } from '../src/storage/local';

testStorage({
  name: 'localStore conformance',
  create: async () => localStore(await mkdtemp(join(tmpdir(), 'cairn-local-'))),
  corrupt: async (driver, digest) => flipByte((await driver.localPath?.(digest)) as string),
  capabilities: { localPath: true, persistent: true, shared: false },
});

const objects = new Map<string, Uint8Array>();
testStorage({
  name: 'memoryStore conformance',
  create: () => memoryStore({ objects }),
  corrupt: async (_driver, digest) => {
    const bytes = objects.get(digest) as Uint8Array;
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
  },
  capabilities: { localPath: false, persistent: false, shared: false },
  largeSize: 16 * 1024 * 1024,
});

async function flipByte(path: string): Promise<void> {
  await chmod(path, 0o644);
  const handle = await open(path, 'r+');
  const byte = new Uint8Array(1);
  await handle.read(byte, 0, 1, 0);
  byte[0] = (byte[0] ?? 0) ^ 0xff;
  await handle.write(byte, 0, 1, 0);
  await handle.close();
  await chmod(path, 0o444);
}
