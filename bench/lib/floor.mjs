/**
 * The floor of the orchestration benchmark: the same pipeline done by hand
 * with no framework, the way a careful script would do it.
 *
 * For each node in topological order (at most `concurrency` at once): the
 * cache key is sha256 of the node name, its config and its input digests;
 * a key found in the index whose output file still hashes to its digest is
 * reused; otherwise the node reads its two parents' json files, computes the
 * same value as the Cairn step, serializes it, hashes it and writes it
 * content-addressed and atomically (temp file, fsync, rename, fsync of the
 * folder — the durability the local store gives). The index is a JSON file
 * read at the start and written atomically at the end.
 *
 * Nothing here records runs, lineage, events or configs: everything Cairn
 * does beyond this is what the benchmark calls overhead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { derive, nodeName, parents } from './dag.mjs';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** Run the hand-written pipeline in `dir`; returns how many nodes executed and were reused. */
export async function runFloor(dir, size, configs, concurrency = 1) {
  const objects = join(dir, 'objects');
  const tmp = join(dir, 'tmp');
  await mkdir(tmp, { recursive: true });
  const indexPath = join(dir, 'index.json');
  let index = {};
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch {}

  const digests = new Array(size);
  const done = new Array(size);
  let executed = 0;
  let reused = 0;
  let running = 0;
  const queue = [];
  const acquire = () => {
    if (running < concurrency) {
      running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => queue.push(resolve));
  };
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else running--;
  };

  const work = async (i) => {
    const name = nodeName(i);
    const config = configs[name];
    const inputs = parents(i).map((p) => digests[p]);
    const key = sha256(JSON.stringify([name, config, inputs]));
    const known = index[key];
    if (known && sha256(await readFile(objectPath(objects, known))) === known) {
      digests[i] = known;
      reused++;
      return;
    }
    const values = await Promise.all(
      inputs.map(async (digest) => JSON.parse(await readFile(objectPath(objects, digest), 'utf8'))),
    );
    const bytes = Buffer.from(
      JSON.stringify({ v: derive(values[0]?.v ?? '', values[1]?.v ?? '', config.seed) }),
    );
    const digest = sha256(bytes);
    await atomicWrite(tmp, objectPath(objects, digest), bytes);
    index[key] = digest;
    digests[i] = digest;
    executed++;
  };

  for (let i = 0; i < size; i++) {
    const deps = parents(i).map((p) => done[p]);
    done[i] = Promise.all(deps).then(async () => {
      await acquire();
      try {
        await work(i);
      } finally {
        release();
      }
    });
  }
  await Promise.all(done);
  await atomicWrite(tmp, indexPath, Buffer.from(JSON.stringify(index)));
  return { executed, reused };
}

function objectPath(objects, digest) {
  return join(objects, digest.slice(0, 2), digest.slice(2));
}

async function atomicWrite(tmpDir, target, bytes) {
  const tmp = join(tmpDir, randomBytes(8).toString('hex'));
  const handle = await open(tmp, 'wx', 0o444);
  try {
    await handle.write(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const folder = join(target, '..');
  await mkdir(folder, { recursive: true });
  await rename(tmp, target);
  const dirHandle = await open(folder, 'r');
  await dirHandle.sync().catch(() => {});
  await dirHandle.close();
}
