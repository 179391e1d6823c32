/**
 * A deterministic tar (POSIX ustar, with PAX records for long paths and huge
 * files), so that a `tree` artifact's digest depends only on the names,
 * contents and execute bits of its files: entries are sorted by path, times
 * and owners are zeroed, modes are normalized to 0644/0755.
 *
 * Both directions stream: a file is never held in memory, only one chunk of
 * it at a time.
 */
import { lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CairnError, ErrorCodes } from '@cairn/core';

const BLOCK = 512;
const CHUNK = 256 * 1024;
/** Largest size an 11-digit octal field holds; bigger files get a PAX `size` record. */
const MAX_USTAR_SIZE = 8 ** 11 - 1;
/** Bound on PAX / GNU long-name bodies, which are read into memory. */
const MAX_META = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

interface Entry {
  /** Path relative to the packed folder, `/`-separated, no trailing slash. */
  path: string;
  type: 'file' | 'dir';
  size: number;
  mode: number;
}

/**
 * Pack a folder as a deterministic tar stream.
 *
 * Only regular files and folders are allowed: a symlink, socket or device
 * inside `dir` is refused (its meaning depends on the machine that reads it).
 *
 * @example
 * ```ts
 * const { digest } = await storage.put(packTree('out/model'));
 * ```
 */
export async function* packTree(dir: string): AsyncGenerator<Uint8Array> {
  const root = resolve(dir);
  // The folder itself may be reached through a symlink; only what is inside it must be real.
  const rootStat = await stat(root).catch((error) => {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `cannot pack folder ${root}: ${error.message}`, {
      cause: error,
    });
  });
  if (!rootStat.isDirectory()) {
    throw new CairnError(ErrorCodes.ARTIFACT_TYPE_MISMATCH, `cannot pack ${root}: not a folder`);
  }
  const entries = await collect(root);
  for (const entry of entries) {
    yield* headerBlocks(entry);
    if (entry.type === 'file') {
      yield* fileContent(join(root, ...entry.path.split('/')), entry.size);
      const pad = padding(entry.size);
      if (pad > 0) yield new Uint8Array(pad);
    }
  }
  yield new Uint8Array(BLOCK * 2);
}

async function collect(root: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const walk = async (folder: string, prefix: string) => {
    for (const name of await readdir(folder)) {
      const full = join(folder, name);
      const path = prefix ? `${prefix}/${name}` : name;
      const info = await lstat(full);
      if (info.isDirectory()) {
        entries.push({ path, type: 'dir', size: 0, mode: 0o755 });
        await walk(full, path);
      } else if (info.isFile()) {
        entries.push({ path, type: 'file', size: info.size, mode: info.mode & 0o111 ? 0o755 : 0o644 });
      } else {
        const what = info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file or folder';
        throw new CairnError(
          ErrorCodes.ARTIFACT_TYPE_MISMATCH,
          `cannot pack ${full}: ${what}; a tree artifact holds only regular files and folders`,
        );
      }
    }
  };
  await walk(root, '');
  // Byte order of the UTF-8 names as written in the archive (folders end in "/"), so the order does
  // not depend on the file system or the locale, and a folder always precedes its contents.
  const key = (entry: Entry) => Buffer.from(entry.type === 'dir' ? `${entry.path}/` : entry.path);
  return entries.sort((a, b) => Buffer.compare(key(a), key(b)));
}

async function* fileContent(path: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    let done = 0;
    while (done < size) {
      const buffer = new Uint8Array(Math.min(CHUNK, size - done));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, done);
      if (bytesRead === 0) break;
      done += bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
    const extra = await handle.read(new Uint8Array(1), 0, 1, done);
    if (done !== size || extra.bytesRead !== 0) {
      throw new CairnError(
        ErrorCodes.STORAGE_FAILED,
        `file ${path} changed size while it was being packed (expected ${size} bytes)`,
      );
    }
  } finally {
    await handle.close();
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function* headerBlocks(entry: Entry): Generator<Uint8Array> {
  const name = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const nameBytes = encoder.encode(name);
  const pax: Array<[string, string]> = [];
  if (nameBytes.length > 100) pax.push(['path', name]);
  if (entry.size > MAX_USTAR_SIZE) pax.push(['size', String(entry.size)]);
  if (pax.length > 0) {
    const body = encoder.encode(pax.map(([key, value]) => paxRecord(key, value)).join(''));
    yield header({ name: '././@PaxHeader', mode: 0o644, size: body.length, type: 'x' });
    yield body;
    const pad = padding(body.length);
    if (pad > 0) yield new Uint8Array(pad);
  }
  yield header({
    name: nameBytes.length > 100 ? truncateUtf8(name, 100) : name,
    mode: entry.mode,
    size: entry.size > MAX_USTAR_SIZE ? 0 : entry.size,
    type: entry.type === 'dir' ? '5' : '0',
  });
}

/** A PAX record is `"<length> <key>=<value>\n"` where length counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const rest = encoder.encode(` ${key}=${value}\n`).length;
  let length = rest + 1;
  while (rest + String(length).length !== length) length = rest + String(length).length;
  return `${length} ${key}=${value}\n`;
}

function truncateUtf8(value: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const char of value) {
    const size = encoder.encode(char).length;
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  return out;
}

function header(fields: { name: string; mode: number; size: number; type: string }): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, value: string) => block.set(encoder.encode(value), offset);
  const octal = (offset: number, length: number, value: number) =>
    put(offset, `${value.toString(8).padStart(length - 1, '0')}\0`);
  put(0, fields.name);
  octal(100, 8, fields.mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, fields.size);
  octal(136, 12, 0); // mtime
  put(148, '        '); // checksum is computed with its own field as spaces
  put(156, fields.type);
  put(257, 'ustar\0');
  put(263, '00');
  octal(329, 8, 0); // devmajor
  octal(337, 8, 0); // devminor
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** Reads exact byte counts out of a stream of arbitrarily sized chunks. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.offset >= this.buffer.length) {
      if (this.ended) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.buffer = next.value;
      this.offset = 0;
    }
    return true;
  }

  /** Exactly `length` bytes; `undefined` at a clean end of stream; throws on a truncated one. */
  async read(length: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      if (!(await this.fill())) {
        if (done === 0) return undefined;
        throw truncated();
      }
      const take = Math.min(length - done, this.buffer.length - this.offset);
      out.set(this.buffer.subarray(this.offset, this.offset + take), done);
      this.offset += take;
      done += take;
    }
    return out;
  }

  /** Up to `length` bytes as slices of the incoming chunks, without gathering them. */
  async *slices(length: number): AsyncGenerator<Uint8Array> {
    let left = length;
    while (left > 0) {
      if (!(await this.fill())) throw truncated();
      const take = Math.min(left, this.buffer.length - this.offset);
      yield this.buffer.subarray(this.offset, this.offset + take);
      this.offset += take;
      left -= take;
    }
  }

  async skip(length: number): Promise<void> {
    for await (const _ of this.slices(length)) {
      // discarding
    }
  }

  /** Consume the rest, so that a verifying source gets to check its digest. */
  async drain(): Promise<void> {
    this.offset = this.buffer.length;
    while (await this.fill()) this.offset = this.buffer.length;
  }

  async close(): Promise<void> {
    if (!this.ended) await this.iterator.return?.();
  }
}

function truncated(): CairnError {
  return new CairnError(ErrorCodes.ARTIFACT_CORRUPT, 'tar stream ends in the middle of an entry');
}

function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function octalField(block: Uint8Array, offset: number, length: number, what: string): number {
  const text = field(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new CairnError(ErrorCodes.ARTIFACT_CORRUPT, `tar header has a malformed ${what} field "${text}"`);
  }
  return Number.parseInt(text, 8);
}

function parsePax(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = Number.parseInt(decoder.decode(body.subarray(at, space)), 10);
    if (space === -1 || !Number.isInteger(length) || length <= 0 || at + length > body.length) {
      throw new CairnError(ErrorCodes.ARTIFACT_CORRUPT, 'tar has a malformed PAX header');
    }
    const record = decoder.decode(body.subarray(space + 1, at + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/**
 * Resolve an entry name inside `root`, refusing anything that would land
 * outside it: absolute paths, drive letters, backslashes, `..` segments.
 */
function safeTarget(root: string, name: string): string | undefined {
  const invalid = (why: string) =>
    new CairnError(ErrorCodes.ARTIFACT_KEY_INVALID, `tar entry "${name}" ${why}; refusing to unpack it`);
  if (name.includes('\0')) throw invalid('contains a NUL byte');
  if (name.startsWith('/') || isAbsolute(name) || /^[a-zA-Z]:/.test(name))
    throw invalid('is an absolute path');
  if (name.includes('\\')) throw invalid('contains a backslash');
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw invalid('escapes the destination folder');
  if (segments.length === 0) return undefined;
  const target = join(root, ...segments);
  const rel = relative(root, target);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw invalid('escapes the destination folder');
  }
  return target;
}

/**
 * Unpack a tar stream into `dir` (created if missing). Regular files and
 * folders only; an entry that would escape `dir`, or a link, is refused with
 * `CAIRN_ARTIFACT_KEY_INVALID`. The whole source is consumed, so a verifying
 * stream (see `verifiedStream`) checks its digest before this resolves.
 */
export async function unpackTree(source: AsyncIterable<Uint8Array>, dir: string): Promise<void> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const reader = new ChunkReader(source);
  try {
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    for (;;) {
      const block = await reader.read(BLOCK);
      if (!block) break;
      if (block.every((byte) => byte === 0)) {
        await reader.drain();
        return;
      }
      checkChecksum(block);
      const type = String.fromCharCode(block[156] ?? 0);
      const magic = field(block, 257, 6);
      const prefix = magic === 'ustar' ? field(block, 345, 155) : '';
      let name =
        longName ?? pax.path ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
      const size = pax.size !== undefined ? Number(pax.size) : octalField(block, 124, 12, 'size');
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new CairnError(ErrorCodes.ARTIFACT_CORRUPT, `tar entry "${name}" has an invalid size`);
      }
      const mode = octalField(block, 100, 8, 'mode');
      if (type === 'x' || type === 'g' || type === 'L') {
        if (size > MAX_META) {
          throw new CairnError(
            ErrorCodes.ARTIFACT_CORRUPT,
            `tar has an oversized ${type} header (${size} bytes)`,
          );
        }
        const body = await reader.read(size);
        await reader.skip(padding(size));
        if (type === 'x') pax = parsePax(body ?? new Uint8Array(0));
        if (type === 'L') longName = field(body ?? new Uint8Array(0), 0, size);
        continue;
      }
      pax = {};
      longName = undefined;
      if (type === '5') {
        name = name.replace(/\/+$/, '');
        const target = safeTarget(root, name);
        if (target) await mkdir(target, { recursive: true, mode: 0o755 });
      } else if (type === '0' || type === '\0' || type === '7') {
        const target = safeTarget(root, name);
        if (!target)
          throw new CairnError(ErrorCodes.ARTIFACT_KEY_INVALID, `tar entry "${name}" has no file name`);
        await mkdir(join(target, '..'), { recursive: true });
        const handle = await open(target, 'w', mode & 0o111 ? 0o755 : 0o644);
        try {
          for await (const slice of reader.slices(size)) await handle.write(slice);
        } finally {
          await handle.close();
        }
      } else if (type === '1' || type === '2') {
        throw new CairnError(
          ErrorCodes.ARTIFACT_KEY_INVALID,
          `tar entry "${name}" is a link; links could point outside the destination, refusing to unpack it`,
        );
      } else {
        throw new CairnError(
          ErrorCodes.ARTIFACT_CORRUPT,
          `tar entry "${name}" has unsupported type "${type}" (only files and folders)`,
        );
      }
      await reader.skip(padding(size));
    }
  } finally {
    await reader.close();
  }
}

function checkChecksum(block: Uint8Array): void {
  const stored = octalField(block, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== stored) {
    throw new CairnError(
      ErrorCodes.ARTIFACT_CORRUPT,
      'tar header checksum does not match: the archive is damaged',
    );
  }
}
