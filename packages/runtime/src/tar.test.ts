import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packTree, unpackTree } from './tar';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cairn-tar-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const LONG = `${'deep/'.repeat(25)}${'n'.repeat(120)}.txt`;

/** Writes the same logical tree; `order` and `stamp` vary creation order, times and permissions. */
async function makeTree(root: string, order: 'forward' | 'reverse', stamp: number): Promise<void> {
  const files: Array<[string, string, number]> = [
    ['a.txt', 'alpha', 0o600],
    ['b/c.bin', 'see', 0o664],
    ['b/run.sh', '#!/bin/sh\necho hi\n', 0o700],
    ['b.txt', 'bee', 0o644],
    ['é-unicode.md', 'ünïcödé', 0o640],
    [LONG, 'long path', 0o644],
  ];
  const list = order === 'forward' ? files : [...files].reverse();
  await mkdir(join(root, 'empty'), { recursive: true });
  for (const [name, content, mode] of list) {
    const path = join(root, name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
    await chmod(path, mode);
    await utimes(path, stamp, stamp);
  }
}

function header(tar: Buffer, name: string): Buffer {
  for (let at = 0; at + 512 <= tar.length; at += 512) {
    const block = tar.subarray(at, at + 512);
    if (block.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '') === name) return block;
  }
  throw new Error(`no header for ${name}`);
}

const field = (block: Buffer, offset: number, length: number) =>
  block
    .subarray(offset, offset + length)
    .toString('utf8')
    .replace(/\0.*$/s, '');

/** A raw ustar header + content, for archives our writer would never produce. */
function rawEntry(name: string, type: string, content = '', linkname = ''): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0);
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write('        ', 148);
  block.write(type, 156);
  block.write(linkname, 157);
  block.write('ustar\0', 257);
  block.write('00', 263);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return Buffer.concat([block, body]);
}

const archive = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

describe('packTree', () => {
  it('gives identical bytes for the same folder, whatever the creation order, times or permissions', async () => {
    await makeTree(join(work, 'one'), 'forward', 1_000_000);
    await makeTree(join(work, 'two'), 'reverse', 2_000_000_000);
    const one = await bytesOf(packTree(join(work, 'one')));
    const two = await bytesOf(packTree(join(work, 'two')));
    expect(one.length).toBeGreaterThan(1024);
    expect(one.equals(two)).toBe(true);
    expect(one.equals(await bytesOf(packTree(join(work, 'one'))))).toBe(true);

    await writeFile(join(work, 'two', 'a.txt'), 'ALPHA');
    const changed = await bytesOf(packTree(join(work, 'two')));
    expect(changed.equals(one)).toBe(false);
  });

  it('sorts entries by path and zeroes times, owners and modes except the execute bit', async () => {
    await makeTree(work, 'reverse', 1_234_567);
    const tar = await bytesOf(packTree(work));
    const names = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n');
    expect(names).toEqual(['a.txt', 'b.txt', 'b/', 'b/c.bin', 'b/run.sh', ...names.slice(5)]);
    const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(names).toEqual(sorted);
    expect(names).toContain(LONG);
    expect(names).toContain('empty/');

    const run = header(tar, 'b/run.sh');
    expect(field(run, 100, 8)).toBe('0000755');
    const plain = header(tar, 'a.txt');
    expect(field(plain, 100, 8)).toBe('0000644');
    expect(field(plain, 136, 12)).toBe('00000000000');
    expect(field(plain, 108, 8)).toBe('0000000');
    expect(field(plain, 116, 8)).toBe('0000000');
    expect(field(plain, 265, 32)).toBe('');
    expect(field(plain, 297, 32)).toBe('');
    expect(field(header(tar, 'b/'), 100, 8)).toBe('0000755');
    expect(String.fromCharCode(header(tar, 'b/')[156] as number)).toBe('5');
  });

  it('round-trips through unpackTree, long and unicode names included, and GNU tar agrees', async () => {
    await makeTree(join(work, 'src'), 'forward', 1);
    const tar = await bytesOf(packTree(join(work, 'src')));
    await unpackTree(once(tar), join(work, 'back'));
    expect(await readFile(join(work, 'back', LONG), 'utf8')).toBe('long path');
    expect(await readFile(join(work, 'back', 'é-unicode.md'), 'utf8')).toBe('ünïcödé');
    expect((await stat(join(work, 'back', 'b', 'run.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(work, 'back', 'empty'))).isDirectory()).toBe(true);
    // Packing the unpacked copy gives the same bytes: the format is a fixed point.
    expect((await bytesOf(packTree(join(work, 'back')))).equals(tar)).toBe(true);

    await mkdir(join(work, 'gnu'));
    execFileSync('tar', ['-xf', '-', '-C', join(work, 'gnu')], { input: tar });
    expect(await readFile(join(work, 'gnu', LONG), 'utf8')).toBe('long path');
    const gnuTar = execFileSync('tar', ['-cf', '-', '-C', join(work, 'src'), '.']);
    await unpackTree(once(gnuTar), join(work, 'from-gnu'));
    expect(await readFile(join(work, 'from-gnu', 'b', 'c.bin'), 'utf8')).toBe('see');
    expect(await readFile(join(work, 'from-gnu', LONG), 'utf8')).toBe('long path');
  });

  it('packs an empty folder as just the end-of-archive blocks', async () => {
    const tar = await bytesOf(packTree(work));
    expect(tar.equals(Buffer.alloc(1024))).toBe(true);
  });

  it('refuses symlinks and names them', async () => {
    await writeFile(join(work, 'real.txt'), 'x');
    await symlink(join(work, 'real.txt'), join(work, 'link.txt'));
    await expect(bytesOf(packTree(work))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
      message: expect.stringContaining('link.txt'),
    });
  });

  it('follows a symlink to the folder itself', async () => {
    await mkdir(join(work, 'real'));
    await writeFile(join(work, 'real', 'x.txt'), 'x');
    await symlink(join(work, 'real'), join(work, 'alias'));
    expect(
      (await bytesOf(packTree(join(work, 'alias')))).equals(await bytesOf(packTree(join(work, 'real')))),
    ).toBe(true);
  });

  it('refuses a path that is not a folder', async () => {
    await writeFile(join(work, 'file'), 'x');
    await expect(bytesOf(packTree(join(work, 'file')))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
    });
    await expect(bytesOf(packTree(join(work, 'missing')))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_TYPE_MISMATCH',
    });
  });

  it('streams a 500 MB file without holding it in memory', async () => {
    const size = 500 * 1024 * 1024;
    const handle = await open(join(work, 'big.bin'), 'w');
    await handle.truncate(size); // sparse: fast to make, still read byte by byte
    await handle.write(Buffer.from('end'), 0, 3, size - 3);
    await handle.close();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const hash = createHash('sha256');
    let total = 0;
    let chunks = 0;
    for await (const chunk of packTree(work)) {
      hash.update(chunk);
      total += chunk.byteLength;
      if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(total).toBe(512 + size + 1024);
    // Holding the 500 MB file would grow by all of it; streaming stays at a few chunks plus
    // garbage not yet collected. RSS is noisy under load, so the bound leaves room.
    expect(peak - baseline).toBeLessThan(200 * 1024 * 1024);
  });
});

describe('unpackTree', () => {
  it.each([
    ['../evil.txt', 'escapes'],
    ['a/../../evil.txt', 'escapes'],
    ['/tmp/cairn-evil.txt', 'absolute'],
    ['a\\..\\..\\evil.txt', 'backslash'],
  ])('refuses the entry %s', async (name, why) => {
    const dest = join(work, 'dest', 'inner');
    const error = await unpackTree(once(archive(rawEntry(name, '0', 'evil'))), dest).catch((e) => e);
    expect(error).toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
    expect(error.message).toContain(why);
    expect(await readdir(join(work, 'dest'))).toEqual(['inner']);
    expect(await readdir(dest)).toEqual([]);
    await expect(stat('/tmp/cairn-evil.txt')).rejects.toThrow();
  });

  it('refuses symbolic and hard links', async () => {
    for (const type of ['1', '2']) {
      await expect(
        unpackTree(once(archive(rawEntry('link', type, '', '/etc/passwd'))), join(work, `d${type}`)),
      ).rejects.toMatchObject({ code: 'CAIRN_ARTIFACT_KEY_INVALID' });
    }
  });

  it('reports a damaged header or a truncated archive as corrupt', async () => {
    const good = archive(rawEntry('a.txt', '0', 'hello world'));
    const damaged = Buffer.from(good);
    damaged[0] = 'b'.charCodeAt(0);
    await expect(unpackTree(once(damaged), join(work, 'x'))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_CORRUPT',
    });
    await expect(unpackTree(once(good.subarray(0, 520)), join(work, 'y'))).rejects.toMatchObject({
      code: 'CAIRN_ARTIFACT_CORRUPT',
    });
  });

  it('reads chunks of any size and consumes the whole source', async () => {
    await makeTree(join(work, 'src'), 'forward', 1);
    const tar = await bytesOf(packTree(join(work, 'src')));
    let finished = false;
    async function* drip(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < tar.length; at += 7) yield tar.subarray(at, at + 7);
      yield new Uint8Array(2048); // trailing padding as some writers add
      finished = true;
    }
    await unpackTree(drip(), join(work, 'back'));
    expect(finished).toBe(true);
    expect(await readFile(join(work, 'back', 'b', 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
  });
});
