import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployer, DeployerContext, ModelVersionRef } from '@cairn/core';
import { memoryStore } from '@cairn/testkit';
import { freePort } from '@cairn/testkit/ports';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDeployerOptions, localDeployer } from '../src/index';
import { answerOf, offsetLoaders, storeVersions } from './models';

const storage = memoryStore();
let root: string;
let v: ModelVersionRef[];
let dirs = 0;
const open: Deployer[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-deploy-local-http-'));
  v = await storeVersions(storage, 3);
});
afterEach(async () => {
  for (const deployer of open.splice(0)) await deployer.close();
});
afterAll(() => rm(root, { recursive: true, force: true }));

const newStateDir = () => join(root, `state-${++dirs}`);

async function start(
  options: LocalDeployerOptions = {},
  context: Partial<DeployerContext> = {},
): Promise<{ deployer: Deployer; base: string; stateDir: string }> {
  const stateDir = context.stateDir ?? newStateDir();
  const deployer = await localDeployer({ port: 0, ...options }).create({
    storage,
    loaders: offsetLoaders().loaders,
    ...context,
    stateDir,
  });
  open.push(deployer);
  // The URL of a deployment tells where the server listens, also when port 0 was asked.
  await deployer.deploy({ endpoint: 'probe', model: v[0]! });
  const url = (await deployer.status('probe'))!.url!;
  await deployer.remove('probe');
  return { deployer, base: url.slice(0, url.indexOf('/v1/')), stateDir };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function expectError(response: Response, status: number, code: string, messagePart?: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  if (messagePart) expect(body.error.message).toContain(messagePart);
  return body.error;
}

describe('deploy-local over HTTP', () => {
  it('answers health, lists endpoints and round-trips a prediction', async () => {
    const { deployer, base } = await start();
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', endpoints: 0 });
    const deployment = await deployer.deploy({ endpoint: 'penguins', model: v[0]! });
    expect(deployment.url).toBe(`${base}/v1/endpoints/penguins`);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', endpoints: 1 });

    const list = await fetch(`${base}/v1/endpoints`);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ endpoints: [deployment] });
    const one = await fetch(deployment.url!);
    expect(await one.json()).toEqual(deployment);

    const response = await post(`${deployment.url}/predict`, {
      rows: [
        [1, 2],
        [0, 0],
      ],
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cairn-model-version')).toBe('1');
    expect(await response.json()).toEqual({
      predictions: [answerOf(1), 1000],
      model: 'offset',
      version: 1,
      revision: 1,
      role: 'primary',
    });

    const health = await fetch(`${deployment.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      endpoint: 'penguins',
      status: 'healthy',
      revision: 1,
      routes: [{ role: 'primary', ready: true, requests: 1, errors: 0 }],
    });
  });

  it('answers every kind of bad request with its status and code, and keeps serving', async () => {
    const { deployer, base } = await start({ maxBodyBytes: 1024 });
    await deployer.deploy({ endpoint: 'strict', model: v[0]! });
    const predict = `${base}/v1/endpoints/strict/predict`;

    await expectError(await post(predict, '{"rows": [[1, 2]'), 400, 'CAIRN_DATA_INVALID', 'not valid JSON');
    await expectError(await post(predict, {}), 400, 'CAIRN_DATA_INVALID', '"rows"');
    await expectError(await post(predict, { rows: 'x' }), 400, 'CAIRN_DATA_INVALID', 'must be an array');
    await expectError(await post(predict, [[1, 2]]), 400, 'CAIRN_DATA_INVALID');
    await expectError(
      await post(predict, { rows: [[1, 2]], unitId: 7 }),
      400,
      'CAIRN_DATA_INVALID',
      'unitId',
    );
    await expectError(await post(predict, { rows: [['a']] }), 400, 'CAIRN_DATA_INVALID', 'row 0');

    await expectError(
      await post(`${base}/v1/endpoints/nowhere/predict`, { rows: [[1, 2]] }),
      404,
      'CAIRN_DEPLOYMENT_NOT_FOUND',
      'nowhere',
    );
    await expectError(await fetch(`${base}/v1/endpoints/nowhere`), 404, 'CAIRN_DEPLOYMENT_NOT_FOUND');
    await expectError(await fetch(`${base}/v1/endpoints/nowhere/health`), 404, 'CAIRN_DEPLOYMENT_NOT_FOUND');
    await expectError(await fetch(`${base}/v1/endpoints/Bad%20Name`), 404, 'CAIRN_DEPLOYMENT_NOT_FOUND');
    await expectError(await fetch(`${base}/v1/endpoints/%E0%A4%A`), 404, 'CAIRN_DEPLOYMENT_NOT_FOUND');
    await expectError(await fetch(`${base}/nope`), 404, 'CAIRN_USAGE', '/nope');
    await expectError(await fetch(`${base}/v1/endpoints/strict/what`), 404, 'CAIRN_USAGE');

    const getPredict = await fetch(predict);
    expect(getPredict.headers.get('allow')).toBe('POST');
    await expectError(getPredict, 405, 'CAIRN_USAGE');
    const postHealth = await post(`${base}/healthz`, {});
    expect(postHealth.headers.get('allow')).toContain('GET');
    await expectError(postHealth, 405, 'CAIRN_USAGE');
    await expectError(await fetch(`${base}/v1/endpoints`, { method: 'DELETE' }), 405, 'CAIRN_USAGE');

    await expectError(
      await post(predict, JSON.stringify({ rows: [[1, 2]] }), { 'content-type': 'text/plain' }),
      415,
      'CAIRN_DATA_INVALID',
      'application/json',
    );
    await expectError(
      await fetch(predict, { method: 'POST', body: new TextEncoder().encode('{"rows":[[1,2]]}') }),
      415,
      'CAIRN_DATA_INVALID',
    );

    const big = JSON.stringify({ rows: Array.from({ length: 2000 }, () => [1, 2]) });
    await expectError(await post(predict, big), 413, 'CAIRN_DATA_INVALID', '1024 bytes');
    const huge = JSON.stringify({ rows: Array.from({ length: 400_000 }, () => [1, 2]) });
    await expectError(await post(predict, huge), 413, 'CAIRN_DATA_INVALID');
    // Without a content-length (chunked), the server counts as it reads.
    const chunks = Array.from({ length: 40 }, () => new TextEncoder().encode(' '.repeat(100)));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    await expectError(
      await fetch(predict, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit),
      413,
      'CAIRN_DATA_INVALID',
    );

    await expectError(await post(predict, { rows: [['explode']] }), 500, 'CAIRN_DEPLOY_FAILED', 'fell over');
    const health = (await (await fetch(`${base}/v1/endpoints/strict/health`)).json()) as {
      routes: Array<{ errors: number }>;
    };
    expect(health.routes[0]!.errors).toBe(1);

    // Garbage on the socket gets a 400 and does not take the server down.
    const garbage = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () =>
        socket.write('NOT HTTP AT ALL\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);

    const ok = await post(predict, { rows: [[1, 2]] });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { predictions: number[] }).predictions).toEqual([answerOf(1)]);
  });

  it('splits a canary over HTTP by unit id, with the answering version in a header', async () => {
    const { deployer, base } = await start();
    await deployer.deploy({ endpoint: 'split', model: v[0]! });
    await deployer.deploy({ endpoint: 'split', model: v[1]!, strategy: { type: 'canary', percent: 30 } });
    const predict = `${base}/v1/endpoints/split/predict`;
    const seen = new Map<string, string>();
    let canary = 0;
    for (let i = 0; i < 1000; i++) {
      const response = await post(predict, { rows: [[1, 2]], unitId: `user-${i}` });
      const body = (await response.json()) as { predictions: number[]; version: number; role: string };
      const header = response.headers.get('x-cairn-model-version')!;
      expect(header).toBe(String(body.version));
      expect(body.predictions).toEqual([answerOf(body.version)]);
      expect(body.role).toBe(body.version === 2 ? 'canary' : 'primary');
      seen.set(`user-${i}`, header);
      if (body.version === 2) canary++;
    }
    expect(canary).toBeGreaterThanOrEqual(250);
    expect(canary).toBeLessThanOrEqual(350);
    for (let i = 0; i < 1000; i += 10) {
      const response = await post(predict, { rows: [[1, 2]], unitId: `user-${i}` });
      expect(response.headers.get('x-cairn-model-version')).toBe(seen.get(`user-${i}`));
    }
  });

  it('answers 200 concurrent predictions', async () => {
    const { deployer, base } = await start();
    await deployer.deploy({ endpoint: 'busy', model: v[2]! });
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => post(`${base}/v1/endpoints/busy/predict`, { rows: [[1, i]] })),
    );
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ predictions: number[] }>));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(bodies.map((b) => b.predictions[0])).toEqual(Array.from({ length: 200 }, (_, i) => 3001 + i));
    const health = (await deployer.health('busy')).routes[0]!;
    expect(health.requests).toBe(200);
    expect(health.latencyMs!.p50).toBeLessThanOrEqual(health.latencyMs!.p95);
  });

  it('counts a failing shadow in health without ever failing a request', async () => {
    const { deployer, base } = await start();
    await deployer.deploy({ endpoint: 'shadowed', model: v[0]! });
    await deployer.deploy({ endpoint: 'shadowed', model: v[1]!, strategy: { type: 'shadow' } });
    for (let i = 0; i < 10; i++) {
      const response = await post(`${base}/v1/endpoints/shadowed/predict`, { rows: [[1, 2]] });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-cairn-model-version')).toBe('1');
    }
    // The primary refuses this row as bad input; the shadow sees the same row and is not blamed.
    expect((await post(`${base}/v1/endpoints/shadowed/predict`, { rows: [['a']] })).status).toBe(400);
    await expect
      .poll(async () => (await deployer.health('shadowed')).routes.find((r) => r.role === 'shadow')!.requests)
      .toBe(10);
    const shadow = (await deployer.health('shadowed')).routes.find((r) => r.role === 'shadow')!;
    expect(shadow).toMatchObject({ ready: true, errors: 0 });
    expect(shadow.latencyMs).toBeDefined();
  });

  it('serves the same revision on the same URL after a restart on the same state folder', async () => {
    const port = await freePort();
    const stateDir = newStateDir();
    const first = await localDeployer({ port }).create({
      storage,
      loaders: offsetLoaders().loaders,
      stateDir,
    });
    open.push(first);
    await first.deploy({ endpoint: 'durable', model: v[0]! });
    const live = await first.deploy({ endpoint: 'durable', model: v[1]!, reason: 'better' });
    await first.close();
    await expect(fetch(`${live.url}/health`)).rejects.toThrow();

    // An empty store: the restart reuses the unpacked bundles in the state folder.
    const second = await localDeployer({ port }).create({
      storage: memoryStore(),
      loaders: offsetLoaders().loaders,
      stateDir,
    });
    open.push(second);
    const restored = await fetch(live.url!);
    expect(await restored.json()).toMatchObject({ revision: 2, reason: 'better', url: live.url });
    const response = await post(`${live.url}/predict`, { rows: [[1, 2]] });
    expect(await response.json()).toMatchObject({ predictions: [answerOf(2)], version: 2, revision: 2 });
    expect((await second.rollback('durable')).revision).toBe(3);
    const back = await post(`${live.url}/predict`, { rows: [[1, 2]] });
    expect(back.status).toBe(200);
    expect(back.headers.get('x-cairn-model-version')).toBe('1');
  });

  it('reports an endpoint whose model cannot be loaded after a restart as unavailable (503)', async () => {
    const { deployer, stateDir } = await start();
    await deployer.deploy({ endpoint: 'orphan', model: v[0]! });
    await deployer.close();
    const restarted = await localDeployer({ port: 0 }).create({ storage, loaders: {}, stateDir });
    open.push(restarted);
    const url = (await restarted.status('orphan'))!.url!;
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as {
      status: string;
      routes: Array<{ ready: boolean; error: string }>;
    };
    expect(body.status).toBe('unavailable');
    expect(body.routes[0]!.ready).toBe(false);
    expect(body.routes[0]!.error).toContain('no loader for flavor "test/offset"');
    await expectError(
      await post(`${url}/predict`, { rows: [[1, 2]] }),
      500,
      'CAIRN_DEPLOY_FAILED',
      'no loader',
    );
  });

  it('refuses to start on a damaged state file, naming it, and rewrites nothing', async () => {
    const { deployer, stateDir } = await start();
    await deployer.deploy({ endpoint: 'fine', model: v[0]! });
    await deployer.close();
    const file = join(stateDir, 'deployments', 'broken.json');
    for (const damage of [
      '{"format":1,"endpoint":"broken","revisions":[',
      JSON.stringify({ format: 1, endpoint: 'broken', revisions: [{ revision: 2 }] }),
    ]) {
      await writeFile(file, damage);
      const attempt = localDeployer({ port: 0 }).create({
        storage,
        loaders: offsetLoaders().loaders,
        stateDir,
      });
      await expect(attempt).rejects.toMatchObject({ code: 'CAIRN_DEPLOY_FAILED' });
      await expect(attempt).rejects.toThrow(file);
      expect(await readFile(file, 'utf8')).toBe(damage);
    }
  });

  it('reads doubled slashes in a request path as one', async () => {
    const { deployer, base } = await start();
    await deployer.deploy({ endpoint: 'a', model: v[0]! });
    const answered = await post(`${base}//v1//endpoints//a//predict`, { rows: [[1, 2]] });
    expect(answered.status).toBe(200);
  });

  it('refuses a request of more rows than maxRows with 413, and answers one of maxRows', async () => {
    const { deployer, base } = await start({ maxRows: 3 });
    await deployer.deploy({ endpoint: 'a', model: v[0]! });
    const url = `${base}/v1/endpoints/a/predict`;
    await expectError(
      await post(url, { rows: [[1], [2], [3], [4]] }),
      413,
      'CAIRN_DATA_INVALID',
      '4 rows, more than the 3',
    );
    const answered = await post(url, { rows: [[1], [2], [3]] });
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { predictions: unknown[] }).predictions).toHaveLength(3);
    expect(() => localDeployer({ maxRows: 0 })).toThrow(
      expect.objectContaining({
        code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
        message: expect.stringContaining('option "maxRows" must be a positive integer'),
      }),
    );
  });

  it('a serving process never answers a staging endpoint; serveEndpoint in the control process does', async () => {
    const { deployer: serving, base, stateDir } = await start({ followIntervalMs: 20 });
    const control = await localDeployer({ port: 0 }).create({
      storage,
      loaders: offsetLoaders().loaders,
      stateDir,
      mode: 'control',
    });
    open.push(control);
    await control.deploy({ endpoint: 'shop', model: v[0]! });
    const staged = await control.deploy({ endpoint: 'shop-loadtest', model: v[1]!, staging: true });
    expect(staged.staging).toBe(true);
    // Found on disk at the request (before any follow pass) and after follow passes alike: 404.
    await expectError(
      await post(`${base}/v1/endpoints/shop-loadtest/predict`, { rows: [[1, 2]] }),
      404,
      'CAIRN_DEPLOYMENT_NOT_FOUND',
    );
    await expect
      .poll(async () => (await serving.list()).map((d) => d.endpoint).sort())
      .toEqual(['shop', 'shop-loadtest']);
    await expect
      .poll(async () => (await post(`${base}/v1/endpoints/shop/predict`, { rows: [[1, 2]] })).status)
      .toBe(200);
    await expectError(
      await post(`${base}/v1/endpoints/shop-loadtest/predict`, { rows: [[1, 2]] }),
      404,
      'CAIRN_DEPLOYMENT_NOT_FOUND',
    );
    expect((await serving.status('shop-loadtest'))?.url).toBeUndefined();
    // A later change keeps it staging.
    expect((await control.deploy({ endpoint: 'shop-loadtest', model: v[2]!, staging: true })).staging).toBe(
      true,
    );
    expect((await control.rollback('shop-loadtest')).staging).toBe(true);
    const own = await control.serveEndpoint!('shop-loadtest');
    try {
      const answered = await post(`${own.url}/predict`, { rows: [[1, 2]] });
      expect(answered.status).toBe(200);
    } finally {
      await own.close();
    }
    await expect(
      control.deploy({ endpoint: 'x', model: v[0]!, staging: 'yes' as never }),
    ).rejects.toMatchObject({
      code: 'CAIRN_DEPLOY_INVALID',
    });
  });

  it('close() answers a request already in flight (a slow upload) and takes no new one', async () => {
    const deployer = await localDeployer({ port: 0 }).create({
      storage,
      loaders: offsetLoaders().loaders,
      stateDir: newStateDir(),
    });
    await deployer.deploy({ endpoint: 'a', model: v[0]! });
    const url = new URL(`${(await deployer.status('a'))!.url!}/predict`);
    const body = JSON.stringify({ rows: [[1, 2]] });
    // Expect: 100-continue: the server answers "continue" once it has the request's head, so the
    // request is in flight (not an idle connection) when the stop begins; its body comes after.
    let inFlight: (() => void) | undefined;
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            expect: '100-continue',
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        },
      );
      req.on('error', reject);
      req.on('continue', () => {
        inFlight = () => req.end(body);
      });
    });
    await expect.poll(() => inFlight).toBeDefined();
    const closing = deployer.close();
    // New requests are refused meanwhile.
    await expect
      .poll(async () =>
        fetch(url, { method: 'POST', body }).then(
          () => 'answered',
          () => 'refused',
        ),
      )
      .toBe('refused');
    inFlight!();
    const { status, text } = await answer;
    expect(status).toBe(200);
    expect(JSON.parse(text).predictions).toHaveLength(1);
    await closing;
  });

  it('fails to start on a port in use, and close() ends keep-alive connections and closes models', async () => {
    const { base } = await start();
    const port = Number(new URL(base).port);
    await expect(
      localDeployer({ port }).create({ storage, loaders: offsetLoaders().loaders, stateDir: newStateDir() }),
    ).rejects.toMatchObject({ code: 'CAIRN_DEPLOY_FAILED', message: expect.stringContaining(String(port)) });

    const models = offsetLoaders();
    const deployer = await localDeployer({ port: 0 }).create({
      storage,
      loaders: models.loaders,
      stateDir: newStateDir(),
    });
    await deployer.deploy({ endpoint: 'a', model: v[0]! });
    await deployer.deploy({ endpoint: 'b', model: v[1]! });
    const url = (await deployer.status('a'))!.url!;
    expect((await fetch(url)).status).toBe(200); // leaves an idle keep-alive connection
    await deployer.close();
    expect(models.closed).toBe(2);
    await expect(fetch(url)).rejects.toThrow();
    await expect(deployer.predict('a', [[1, 2]])).rejects.toMatchObject({ code: 'CAIRN_DEPLOY_FAILED' });
    await expect(deployer.deploy({ endpoint: 'a', model: v[2]! })).rejects.toMatchObject({
      code: 'CAIRN_DEPLOY_FAILED',
    });
  });
});
