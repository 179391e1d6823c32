/**
 * Unpacked bundles are checked before reuse: a folder under the state folder
 * that no longer matches the file list written at extraction is refused and
 * unpacked again from storage, over real HTTP.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployer, StorageDriver } from '@cairn/core';
import { memoryStore } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleDir, bundleProblem } from '../src/bundles';
import { localDeployer } from '../src/index';
import { answerOf, FLAVOR, offsetLoaders, storeVersions } from './models';

/** A second flavor the tampered manifest points to: it answers -1 for every row. */
const EVIL = 'test/evil';
const loaders = {
  ...offsetLoaders().loaders,
  [EVIL]: () => ({ predict: (rows: readonly unknown[]) => rows.map(() => -1) }),
};

let dir: string;
const open: Deployer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-deploy-bundles-'));
});
afterEach(async () => {
  for (const deployer of open.splice(0)) await deployer.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(storage: StorageDriver) {
  const deployer = await localDeployer({ port: 0 }).create({ storage, loaders, stateDir: dir });
  open.push(deployer);
  return deployer;
}

const predictOver = async (url: string) => {
  const response = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rows: [[1, 2]] }),
  });
  return { status: response.status, body: (await response.json()) as any };
};

async function tamper(digest: string) {
  const manifestPath = join(bundleDir(dir, digest), 'cairn-model.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  expect(manifest.flavor).toBe(FLAVOR);
  await writeFile(manifestPath, JSON.stringify({ ...manifest, flavor: EVIL }));
  expect(await bundleProblem(bundleDir(dir, digest), digest)).toBe('cairn-model.json was changed');
}

describe('unpacked bundles', () => {
  it('refuses an edited cairn-model.json and serves the original bundle again', async () => {
    const storage = memoryStore();
    const [v1] = await storeVersions(storage, 1);
    const first = await serve(storage);
    await first.deploy({ endpoint: 'shop', model: v1! });
    expect(await bundleProblem(bundleDir(dir, v1!.digest), v1!.digest)).toBeUndefined();
    await first.close();

    await tamper(v1!.digest);
    const second = await serve(storage);
    const url = (await second.status('shop'))!.url!;
    expect(await predictOver(url)).toMatchObject({ status: 200, body: { predictions: [answerOf(1)] } });
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'healthy', routes: [{ ready: true }] });
    // Unpacked again: the folder matches its list once more.
    expect(await bundleProblem(bundleDir(dir, v1!.digest), v1!.digest)).toBeUndefined();
  });

  it('reports the refusal in health when storage no longer has the bundle', async () => {
    const storage = memoryStore();
    const [v1] = await storeVersions(storage, 1);
    const first = await serve(storage);
    await first.deploy({ endpoint: 'shop', model: v1! });
    await first.close();
    await tamper(v1!.digest);

    // Storage without the bundle: the tampered folder must not be served anyway.
    const second = await serve(memoryStore());
    const url = (await second.status('shop'))!.url!;
    const answer = await predictOver(url);
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('CAIRN_DEPLOY_FAILED');
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as any;
    expect(body.status).toBe('unavailable');
    expect(body.routes[0].ready).toBe(false);
    expect(body.routes[0].error).toMatch(/refused: cairn-model\.json was changed/);
  });

  it('refuses an added or a removed file', async () => {
    const storage = memoryStore();
    const [v1] = await storeVersions(storage, 1);
    const first = await serve(storage);
    await first.deploy({ endpoint: 'shop', model: v1! });
    const folder = bundleDir(dir, v1!.digest);
    await writeFile(join(folder, 'files', 'extra.bin'), 'x');
    expect(await bundleProblem(folder, v1!.digest)).toBe('files/extra.bin was added');
    await rm(join(folder, 'files', 'extra.bin'));
    await rm(join(folder, 'files', 'offset.txt'));
    expect(await bundleProblem(folder, v1!.digest)).toBe('files/offset.txt is missing');
    expect(await bundleProblem(folder, 'sha256:'.concat('0'.repeat(64)))).toMatch(/not the one written/);
  });
});
