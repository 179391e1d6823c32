/**
 * Child process of the serving benchmark: one server of one scenario, alone
 * in its process, so that what it spends (its CPU time, its GC, a prediction
 * log's background writes) is its own and never lands in another scenario's
 * measurement. `bench/serving.mjs` starts one per scenario.
 *
 *   fork(server-child.mjs, [scenario, scratchDir])
 *
 * Scenarios: `floor` (a bare node:http server), `primary`, `canary`,
 * `shadow`, `unwatched`, `control`, `sampled`, `logged` (a serving local deployer, see
 * serving.mjs). The floor imports no workspace package.
 *
 * Protocol (IPC): once listening the child sends `{ ok: true, url }` or
 * `{ ok: false, problem }`. Then, for each message `{ id, op }`, it answers
 * `{ id, ok: true, ... }` or `{ id, ok: false, error }`:
 * - `cpu`: writes whatever the prediction log holds and waits for it (not
 *   with `flush: false`: the log then writes its batches when they fill, as
 *   in service), then answers `{ cpuUs, userUs }`, this process's CPU time so
 *   far (user + system, and user alone; every thread: the log's writes in
 *   libuv's pool count).
 * - `close`: closes the deployer (the log is written), answers what the
 *   benchmark checks (`shadowPredictions`, `loggedRows`), then exits.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';

const FLAVOR = 'bench/sum';

/** The model both servers run: the sum of each row. */
export const predictRows = (rows) => rows.map((row) => row.reduce((sum, x) => sum + x, 0));

/** The deployer options of each Cairn scenario. */
const OPTIONS = {
  primary: {},
  canary: {},
  shadow: {},
  unwatched: { metrics: false },
  // A second unwatched server: the watch-cost measurement's control pair.
  control: { metrics: false },
  sampled: { predictionLog: { sample: 0.1 } },
  logged: { predictionLog: { sample: 1 } },
};

/** The floor: what any Node model server must pay to parse, predict and answer. */
async function startFloor() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let text;
      try {
        const { rows } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        text = JSON.stringify({
          predictions: predictRows(rows),
          model: 'bench',
          version: 1,
          revision: 1,
          role: 'primary',
        });
      } catch (error) {
        res.statusCode = 400;
        res.end(String(error));
        return;
      }
      res.statusCode = 200;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('content-length', Buffer.byteLength(text));
      res.setHeader('x-cairn-model-version', '1');
      res.end(text);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/predict`,
    flush: async () => {},
    close: async () => {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return {};
    },
  };
}

/** Two versions of the `bench/sum` bundle (they differ only in a file, so in digest) in the store. */
async function storeBundles(storage, workdir) {
  const { model } = await import('@cairn/core');
  const { storeArtifact } = await import('@cairn/runtime');
  const refs = [];
  for (const version of [1, 2]) {
    const serialized = await model().serialize(
      {
        manifest: { flavor: FLAVOR, signature: { inputs: [], outputs: [] } },
        files: { 'version.txt': String(version) },
      },
      { workdir, name: `v${version}` },
    );
    const { digest } = await storeArtifact(storage, serialized);
    refs.push({ model: 'sum', version, digest });
  }
  return refs;
}

/** A serving local deployer with one endpoint set up as the scenario says, or why it cannot start. */
async function startCairn(scenario, dir) {
  let deployLocal;
  try {
    deployLocal = await import('@cairn/deploy-local');
  } catch (error) {
    return { problem: `@cairn/deploy-local does not load (is it built?): ${error.message.split('\n')[0]}` };
  }
  const { localStore } = await import('@cairn/runtime');
  // The store `cairn serve` writes the prediction log to by default: a local folder, durable puts.
  const storage = localStore(join(dir, 'store'));
  const [v1, v2] = await storeBundles(storage, join(dir, 'work'));
  const stateDir = join(dir, 'state');
  const deployer = await deployLocal.localDeployer({ port: 0, ...OPTIONS[scenario] }).create({
    storage,
    loaders: { [FLAVOR]: () => ({ predict: predictRows }) },
    stateDir,
    mode: 'serve',
  });
  const healthCheckRows = [[1, 2, 3, 4]];
  const first = await deployer.deploy({ endpoint: scenario, model: v1, healthCheckRows });
  if (scenario === 'canary') {
    await deployer.deploy({
      endpoint: scenario,
      model: v2,
      strategy: { type: 'canary', percent: 20 },
      healthCheckRows,
    });
  } else if (scenario === 'shadow') {
    await deployer.deploy({ endpoint: scenario, model: v2, strategy: { type: 'shadow' }, healthCheckRows });
  }
  return {
    url: `${first.url}/predict`,
    flush: () => deployer.flushPredictionLog(),
    close: async () => {
      const checks = {};
      if (scenario === 'shadow') {
        const health = await deployer.health(scenario);
        checks.shadowPredictions = health.routes.find((route) => route.role === 'shadow')?.requests;
      }
      await deployer.close();
      if (OPTIONS[scenario].predictionLog?.sample === 1) {
        checks.loggedRows = (await deployLocal.servedRows({ storage, stateDir }, scenario)).length;
      }
      return checks;
    },
  };
}

const [scenario, dir] = process.argv.slice(2);
const server = scenario === 'floor' ? await startFloor() : await startCairn(scenario, dir);
if (server.problem) {
  process.send({ ok: false, problem: server.problem });
} else {
  process.on('message', ({ id, op, flush = true }) => {
    const run = async () => {
      if (op === 'cpu') {
        if (flush) await server.flush();
        const { user, system } = process.cpuUsage();
        return { cpuUs: user + system, userUs: user };
      }
      if (op === 'close') return server.close();
      throw new Error(`unknown op ${op}`);
    };
    run().then(
      (answer) => {
        process.send({ id, ok: true, ...answer }, () => {
          if (op === 'close') process.exit(0);
        });
      },
      (error) => process.send({ id, ok: false, error: String(error?.stack ?? error) }),
    );
  });
  process.send({ ok: true, url: server.url });
}
// The parent going away is the signal to go (a benchmark that failed half-way leaves no server behind).
process.on('disconnect', () => process.exit(0));
