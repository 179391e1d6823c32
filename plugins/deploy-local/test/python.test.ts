/**
 * The `python` flavor against a real python3: a model whose predict.py is
 * plain Python (no libraries), served by its worker process. What must hold:
 * answers come from the worker, a killed worker is restarted, a closed or
 * unloaded model leaves no process behind, in-flight requests are bounded,
 * and the model's print() never corrupts the protocol.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError, type ModelBundle, model, type Predictor } from '@cairn/core';
import { storeArtifact } from '@cairn/runtime';
import { memoryStore } from '@cairn/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localDeployer, PYTHON_FLAVOR, pythonLoader } from '../src/index';

// The model adds its offset to the row's sum; {"wait": path} blocks until the file exists,
// {"fail": true} raises a model error, {"print": …} prints before answering.
const PREDICT_PY = `import json, os, time

class Model:
    def __init__(self, offset):
        self.offset = offset

    def predict(self, rows):
        out = []
        for row in rows:
            if isinstance(row, dict) and "wait" in row:
                while not os.path.exists(row["wait"]):
                    time.sleep(0.01)
                out.append("waited")
            elif isinstance(row, dict) and "fail" in row:
                raise RuntimeError("the model fell over")
            elif isinstance(row, dict) and "print" in row:
                print(row["print"])
                out.append("printed")
            elif not isinstance(row, list) or not all(isinstance(x, (int, float)) for x in row):
                raise ValueError(f"expected a list of numbers, got {row!r}")
            else:
                out.append(sum(row) + self.offset)
        return out

def load(model_dir):
    with open(os.path.join(model_dir, "offset.json")) as f:
        return Model(json.load(f)["offset"])
`;

const bundleOf = (offset: number, files: Record<string, string> = {}): ModelBundle => ({
  manifest: { flavor: PYTHON_FLAVOR, signature: { inputs: [], outputs: [] } },
  files: { 'predict.py': PREDICT_PY, 'offset.json': JSON.stringify({ offset }), ...files },
});

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Resolves once the process is gone (exit is asynchronous after a kill). */
async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
}

let root: string;
const opened: Predictor[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cairn-deploy-local-python-'));
});
afterEach(async () => {
  for (const predictor of opened.splice(0)) await predictor.close?.();
});
afterAll(() => rm(root, { recursive: true, force: true }));

type Worker = Predictor & { pid: number | undefined; starts: number };
async function load(offset = 1000, options = {}, files: Record<string, string> = {}): Promise<Worker> {
  const predictor = (await pythonLoader(options)(bundleOf(offset, files))) as Worker;
  opened.push(predictor);
  return predictor;
}

describe('pythonLoader', () => {
  it('answers from a worker process, and close() ends it', async () => {
    const predictor = await load(1000);
    const pid = predictor.pid!;
    expect(alive(pid)).toBe(true);
    expect(pid).not.toBe(process.pid);
    expect(await predictor.predict([[1, 2], [3]])).toEqual([1003, 1003]);
    expect(await predictor.predict([[0.5]])).toEqual([1000.5]);
    await predictor.close!();
    await gone(pid);
    expect(alive(pid)).toBe(false);
    await expect(predictor.predict([[1]])).rejects.toThrow(/closed/);
  });

  it('restarts a worker that was killed; requests it held fail, later ones are answered', async () => {
    const predictor = await load(7);
    const first = predictor.pid!;
    const flag = join(root, 'never');
    const held = Promise.resolve(predictor.predict([{ wait: flag }]));
    process.kill(first, 'SIGKILL');
    const error = (await held.catch((e) => e)) as CairnError;
    expect(error.code).toBe('CAIRN_DEPLOY_FAILED');
    expect(error.message).toMatch(/killed by SIGKILL/);
    expect(await predictor.predict([[1]])).toEqual([8]);
    expect(predictor.starts).toBe(2);
    expect(predictor.pid).not.toBe(first);
    expect(alive(predictor.pid)).toBe(true);
  });

  it('tells bad rows (ValueError, CAIRN_DATA_INVALID) from model failures (CAIRN_DEPLOY_FAILED)', async () => {
    const predictor = await load(0);
    const bad = (await Promise.resolve(predictor.predict(['text'])).catch((e) => e)) as CairnError;
    expect(CairnError.is(bad)).toBe(true);
    expect(bad.code).toBe('CAIRN_DATA_INVALID');
    expect(bad.message).toMatch(/ValueError: expected a list of numbers/);
    const broken = (await Promise.resolve(predictor.predict([{ fail: true }])).catch((e) => e)) as CairnError;
    expect(broken.code).toBe('CAIRN_DEPLOY_FAILED');
    expect(broken.message).toMatch(/RuntimeError: the model fell over/);
    // The same worker keeps answering after both.
    expect(await predictor.predict([[2]])).toEqual([2]);
    expect(predictor.starts).toBe(1);
  });

  it("keeps the model's print() off the protocol", async () => {
    const predictor = await load(0);
    expect(await predictor.predict([{ print: '{"id": 1, "predictions": ["forged"]}' }, [1]])).toEqual([
      'printed',
      1,
    ]);
  });

  it('bounds the requests in flight: one at the worker, one waiting, the next refused', async () => {
    const predictor = await load(0, { maxInFlight: 1, maxQueued: 1 });
    const flag = join(root, 'go');
    const first = predictor.predict([{ wait: flag }]);
    const second = predictor.predict([[5]]);
    const third = (await Promise.resolve(predictor.predict([[6]])).catch((e) => e)) as CairnError;
    expect(third.code).toBe('CAIRN_DEPLOY_FAILED');
    expect(third.message).toMatch(/busy: 1 requests in flight and 1 waiting/);
    await writeFile(flag, '');
    expect(await first).toEqual(['waited']);
    expect(await second).toEqual([5]);
    expect(await predictor.predict([[7]])).toEqual([7]);
  });

  it('a bundle whose entry has no load() fails to load, naming it', async () => {
    const error = (await pythonLoader()(bundleOf(0, { 'predict.py': 'x = 1\n' })).catch(
      (e) => e,
    )) as CairnError;
    expect(error.code).toBe('CAIRN_DEPLOY_FAILED');
    expect(error.message).toMatch(/predict\.py defines no load\(model_dir\) function/);
    const missing = (await pythonLoader()({
      manifest: { flavor: PYTHON_FLAVOR, signature: { inputs: [], outputs: [] } },
      files: { 'model.bin': 'x' },
    }).catch((e) => e)) as CairnError;
    expect(missing.code).toBe('CAIRN_DEPLOY_INVALID');
    expect(missing.message).toMatch(/entry module "predict.py"/);
  });

  it('an interpreter that does not exist is named', async () => {
    const error = (await pythonLoader({ python: join(root, 'no-python') })(bundleOf(0)).catch(
      (e) => e,
    )) as CairnError;
    expect(error.code).toBe('CAIRN_DEPLOY_FAILED');
    expect(error.message).toMatch(/cannot start the Python interpreter/);
  });

  it.each([
    [{ maxInFlight: 0 }, 'maxInFlight'],
    [{ maxQueued: -1 }, 'maxQueued'],
    [{ requestTimeoutMs: 1.5 }, 'requestTimeoutMs'],
    [{ python: '' }, 'python'],
    [{ env: { A: 1 } }, 'env'],
    [{ bogus: true }, 'bogus'],
  ])('refuses %j naming the option', (options, option) => {
    expect(() => pythonLoader(options as never)).toThrowError(
      expect.objectContaining({
        code: 'CAIRN_PLUGIN_OPTIONS_INVALID',
        message: expect.stringContaining(option),
      }),
    );
  });
});

describe('a python model behind the local deployer', () => {
  it('serves over HTTP; removing the endpoint stops its worker', async () => {
    const storage = memoryStore();
    const workdir = join(root, 'serialize');
    const serialized = await model().serialize(bundleOf(100), { workdir, name: 'v1' });
    const { digest } = await storeArtifact(storage, serialized);
    const workers: Worker[] = [];
    const loader = pythonLoader();
    const deployer = await localDeployer({ port: 0 }).create({
      storage,
      loaders: {
        [PYTHON_FLAVOR]: async (bundle) => {
          const worker = (await loader(bundle)) as Worker;
          workers.push(worker);
          return worker;
        },
      },
      stateDir: join(root, 'state'),
    });
    try {
      const deployment = await deployer.deploy({
        endpoint: 'py',
        model: { model: 'py', version: 1, digest },
        healthCheckRows: [[1]],
      });
      const ok = await fetch(`${deployment.url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows: [[1, 2]] }),
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ predictions: [103], model: 'py', version: 1 });
      const bad = await fetch(`${deployment.url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows: ['text'] }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).error.code).toBe('CAIRN_DATA_INVALID');
      expect(workers).toHaveLength(1);
      const pid = workers[0]!.pid!;
      expect(alive(pid)).toBe(true);
      await deployer.remove('py');
      await gone(pid);
      expect(alive(pid)).toBe(false);
    } finally {
      await deployer.close();
    }
  });
});
