#!/usr/bin/env node
/**
 * Artifact throughput: store and verify one large file through the local
 * store, against `sha256sum`, `openssl dgst -sha256` and `cp` of the same
 * file. The file is made once in a temp folder and deleted at the end.
 * `openssl` hashes with the same library as Node (OpenSSL, with the CPU's
 * SHA instructions when it has them), so it is the tighter hashing floor;
 * the target row stays against `sha256sum`, as issue #12 states it.
 *
 *   node bench/artifacts.mjs              # 1 GiB, 3 repeats
 *   node bench/artifacts.mjs --mib 64 --repeats 1
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { localStore, storeArtifact } from '@cairn/runtime';
import {
  args,
  finish,
  main,
  parseRepeats,
  removeDir,
  result,
  round,
  stats,
  tempDir,
  timed,
} from './lib/common.mjs';

const run = promisify(execFile);

async function makeFile(path, mib) {
  // 1 MiB of random bytes, repeated: hashing and copying cost the same as for unique bytes.
  const block = randomBytes(2 ** 20);
  const handle = await open(path, 'w+');
  try {
    for (let i = 0; i < mib; i++) await handle.write(block);
    // Flushed and read back once, so no run pays for writeback or a cold page cache that others skip.
    await handle.sync();
    const buffer = Buffer.alloc(2 ** 20);
    for (let i = 0; i < mib; i++) await handle.read(buffer, 0, buffer.length, i * 2 ** 20);
  } finally {
    await handle.close();
  }
}

export async function artifacts(options) {
  const mib = options.mib ? Number(options.mib) : 1024;
  if (!Number.isInteger(mib) || mib <= 0)
    throw new Error(`--mib: "${options.mib}" is not a positive integer`);
  const repeats = parseRepeats(options.repeats, 3);
  const bytes = mib * 2 ** 20;
  const res = result('artifacts', `Artifact throughput (${mib} MiB file)`);
  const dir = await tempDir('artifacts');
  try {
    const file = join(dir, 'payload.bin');
    await makeFile(file, mib);
    const samples = { sha256sum: [], openssl: [], cp: [], store: [], verify: [], storeVerify: [] };
    let expected;
    let openssl = true;
    for (let r = 0; r < repeats; r++) {
      const sum = await timed(() => run('sha256sum', [file]));
      samples.sha256sum.push(sum.ms);
      expected = `sha256:${sum.value.stdout.split(/\s+/)[0]}`;

      if (openssl) {
        const dgst = await timed(() => run('openssl', ['dgst', '-sha256', '-r', file])).catch((error) => {
          if (error?.code !== 'ENOENT') throw error;
          openssl = false;
          res.unavailable.push('openssl dgst -sha256 and put + verify vs openssl (openssl is not installed)');
        });
        if (dgst) {
          const said = dgst.value.stdout.split(/\s+/)[0];
          if (`sha256:${said}` !== expected)
            throw new Error(`openssl says ${said}, sha256sum says ${expected}`);
          samples.openssl.push(dgst.ms);
        }
      }

      const copy = join(dir, 'copy.bin');
      samples.cp.push((await timed(() => run('cp', [file, copy]))).ms);
      await rm(copy, { force: true });

      const storeDir = join(dir, `store-${r}`);
      const storage = localStore({ dir: storeDir });
      const stored = await timed(() => storeArtifact(storage, { file }));
      const digest = stored.value.digest;
      if (digest !== expected && digest !== expected.slice(7)) {
        throw new Error(`the store computed ${digest}, sha256sum says ${expected}`);
      }
      if (stored.value.size !== bytes)
        throw new Error(`stored ${stored.value.size} bytes, expected ${bytes}`);
      const verified = await timed(() => storage.verify(digest));
      if (verified.value !== 'ok') throw new Error(`verify said ${verified.value}`);
      samples.store.push(stored.ms);
      samples.verify.push(verified.ms);
      samples.storeVerify.push(stored.ms + verified.ms);
      await removeDir(storeDir);
    }
    const mbps = (ms) => round(bytes / 2 ** 20 / (ms / 1000), 1);
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
    const fig = (id, label, stat, floor, floorLabel) =>
      res.figures.push({
        id,
        label,
        unit: 'ms',
        stats: stat,
        throughputMiBps: mbps(stat.median),
        ...(floor ? { floor, floorLabel, ratio: round(stat.median / floor.median, 2) } : {}),
      });
    fig('sha256sum', 'sha256sum (floor)', s.sha256sum);
    if (openssl) fig('openssl', 'openssl dgst -sha256 (floor)', s.openssl);
    fig('cp', 'cp (floor)', s.cp);
    fig('store', 'localStore put (hash + write + fsync + rename)', s.store, s.cp, 'cp');
    fig('verify', 'localStore verify (read + hash)', s.verify, s.sha256sum, 'sha256sum');
    fig('store-verify', 'localStore put then verify', s.storeVerify, s.sha256sum, 'sha256sum');
    if (openssl) {
      fig(
        'store-verify-openssl',
        'localStore put then verify, against openssl',
        s.storeVerify,
        s.openssl,
        'openssl',
      );
    }
    const share = round(s.sha256sum.median / s.storeVerify.median, 3);
    res.targets.push({
      id: 'store-verify-throughput',
      label: 'store + verify throughput as a share of sha256sum throughput',
      target: '≥ 0.8',
      unit: '×',
      value: share,
      pass: share >= 0.8,
    });
    const verifyShare = round(s.sha256sum.median / s.verify.median, 3);
    res.notes.push(
      `verify alone runs at ${verifyShare}× sha256sum throughput; put hashes while it writes and fsyncs, so put + verify hashes the bytes twice where sha256sum hashes them once.`,
    );
    if (openssl) {
      res.notes.push(
        `against openssl dgst -sha256 (one hash of the bytes, by the library Node uses): put + verify at ${round(s.openssl.median / s.storeVerify.median, 3)}× its throughput, verify alone at ${round(s.openssl.median / s.verify.median, 3)}×.`,
      );
    }
    res.bytes = bytes;
  } finally {
    await removeDir(dir);
  }
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({ mib: { type: 'string' } });
    await finish(await artifacts(options), options.out);
  });
}
