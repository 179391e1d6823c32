#!/usr/bin/env node
/**
 * Serving: the local model server (`@cairn/deploy-local`) against a bare
 * `node:http` server that parses the same JSON body, runs the same trivial
 * predictor and answers the same JSON. Three Cairn endpoints on one serving
 * deployer: a plain primary, a 20 % canary with a `unitId` in every request
 * (the hashing path), and a primary with a shadow (one extra prediction off
 * the request's path). Two more plain primaries measure what watching costs:
 * one on a deployer with metrics off (the server as it was before /metrics),
 * one with metrics on and every request in the prediction log (sample 1, the
 * worst case); the three plain primaries' ratios to the floor, taken in the
 * same run, give the cost of /metrics and of logging in requests/s. One load
 * generator in a child process (lib/load-child.mjs) drives all six at
 * concurrency 1 and 16.
 *
 *   node bench/serving.mjs
 *   node bench/serving.mjs --requests 2000 --warmup 200 --concurrency 1,16 --repeats 1
 *
 * Requests default to 20,000 timed after 2,000 warm-up per measurement, 3 repeats: about 45 s.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { model } from '@cairn/core';
import { localStore, storeArtifact } from '@cairn/runtime';
import {
  args,
  BENCH_DIR,
  finish,
  main,
  parseRepeats,
  parseSizes,
  removeDir,
  result,
  round,
  stats,
  tempDir,
} from './lib/common.mjs';

const FLAVOR = 'bench/sum';
/** Distinct unit ids cycled through the requests: enough for the 20 % split to show. */
const UNITS = 1000;
const SCENARIOS = ['floor', 'primary', 'canary', 'shadow', 'unwatched', 'sampled', 'logged'];
const LABELS = {
  floor: 'bare node:http (floor)',
  primary: 'Cairn, plain primary (metrics on, the default)',
  canary: 'Cairn, 20 % canary by unitId',
  shadow: 'Cairn, primary + shadow',
  unwatched: 'Cairn, plain primary, metrics off',
  sampled: 'Cairn, plain primary, metrics on + prediction log of 10 % of requests',
  logged: 'Cairn, plain primary, metrics on + prediction log of every request',
};
/**
 * The order of the measurements within a repeat: the four plain primaries back to back, the unwatched
 * one among them, so that each watched server's CPU per request is taken right next to the unwatched
 * one's (the load on a shared machine drifts over a run). The first Cairn server measured is still
 * the default primary, as before.
 */
const MEASURE_ORDER = ['floor', 'primary', 'unwatched', 'sampled', 'logged', 'canary', 'shadow'];
const TARGET_MS = 0.5;
/** Most that /metrics, and /metrics with the prediction log, may cost in requests/s against the floor ratio. */
const WATCH_TARGET = 0.05;

/** The model both servers run: the sum of each row. */
export const predictRows = (rows) => rows.map((row) => row.reduce((sum, x) => sum + x, 0));

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
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Two versions of the `bench/sum` bundle (they differ only in a file, so in digest) in the store. */
async function storeBundles(storage, workdir) {
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

/** A serving local deployer on a free port with the three endpoints, or why it cannot start. */
async function startCairn(dir) {
  let localDeployer;
  try {
    ({ localDeployer } = await import('@cairn/deploy-local'));
  } catch (error) {
    return { problem: `@cairn/deploy-local does not load (is it built?): ${error.message.split('\n')[0]}` };
  }
  // The store `cairn serve` writes the prediction log to by default: a local folder, durable puts.
  // (A memory store would keep every batch in fresh memory, a cost no server pays.)
  const storage = localStore(join(dir, 'store'));
  const [v1, v2] = await storeBundles(storage, join(dir, 'work'));
  const deployer = await localDeployer({ port: 0 }).create({
    storage,
    loaders: { [FLAVOR]: () => ({ predict: predictRows }) },
    stateDir: join(dir, 'state'),
    mode: 'serve',
  });
  const healthCheckRows = [[1, 2, 3, 4]];
  const urls = {};
  for (const endpoint of ['primary', 'canary', 'shadow']) {
    const first = await deployer.deploy({ endpoint, model: v1, healthCheckRows });
    urls[endpoint] = `${first.url}/predict`;
  }
  await deployer.deploy({
    endpoint: 'canary',
    model: v2,
    strategy: { type: 'canary', percent: 20 },
    healthCheckRows,
  });
  await deployer.deploy({ endpoint: 'shadow', model: v2, strategy: { type: 'shadow' }, healthCheckRows });
  // The same plain primary on deployers of their own: without metrics, and with metrics and a full prediction log.
  const others = [];
  for (const [scenario, options] of [
    ['unwatched', { metrics: false }],
    ['sampled', { predictionLog: { sample: 0.1 } }],
    ['logged', { predictionLog: { sample: 1 } }],
  ]) {
    const other = await localDeployer({ port: 0, ...options }).create({
      storage,
      loaders: { [FLAVOR]: () => ({ predict: predictRows }) },
      stateDir: join(dir, `state-${scenario}`),
      mode: 'serve',
    });
    others.push(other);
    urls[scenario] =
      `${(await other.deploy({ endpoint: 'primary', model: v1, healthCheckRows })).url}/predict`;
  }
  const loggedState = join(dir, 'state-logged');
  return {
    deployer,
    others,
    urls,
    loggedRows: async () => {
      await others[2].close();
      const { servedRows } = await import('@cairn/deploy-local');
      return (await servedRows({ storage, stateDir: loggedState }, 'primary')).length;
    },
  };
}

/** Request bodies: one penguin-sized row each; the canary's carry a unit id, the others do not. */
function bodiesFor(scenario) {
  return Array.from({ length: UNITS }, (_, i) => {
    const row = [39.1 + (i % 7), 18.7, 181 + (i % 13), 3750];
    return JSON.stringify(scenario === 'canary' ? { rows: [row], unitId: `user-${i}` } : { rows: [row] });
  });
}

function startClient() {
  const child = fork(join(BENCH_DIR, 'lib', 'load-child.mjs'), [], {
    // The client needs no workspace packages: keep tsx and source conditions out of it.
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = [];
  child.on('message', (answer) => waiting.shift()?.resolve(answer));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the load generator exited with ${code}`));
  });
  return {
    run: (job) =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.send(job);
      }).then((answer) => {
        if (!answer.ok) throw new Error(`load generator: ${answer.error}`);
        return answer;
      }),
    close: () => child.disconnect(),
  };
}

export async function serving(options) {
  const repeats = parseRepeats(options.repeats, 3);
  const requests = parseSizes(options.requests, [20_000])[0];
  const warmup = parseSizes(options.warmup, [2_000])[0];
  const concurrencies = parseSizes(options.concurrency, [1, 16]);
  const res = result('serving', 'Serving: @cairn/deploy-local against a bare node:http server');
  const target = {
    id: 'serving-overhead-p50',
    label: `model-server p50 latency above the bare node:http floor, concurrency 1 (worst of primary, canary, shadow)`,
    target: `< ${TARGET_MS}`,
    unit: 'ms',
    value: null,
    pass: null,
  };
  res.targets.push(target);
  const watchTargets = {
    primary: {
      id: 'serving-metrics-cost',
      label:
        'requests/s lost to /metrics (metrics off → on, plain primary, from server CPU per request, worst concurrency)',
      target: `<= ${WATCH_TARGET * 100}`,
      unit: '%',
      value: null,
      pass: null,
    },
    sampled: {
      id: 'serving-watch-cost',
      label:
        'requests/s lost to /metrics + logging 10 % of requests (plain primary, from server CPU per request, worst concurrency)',
      target: `<= ${WATCH_TARGET * 100}`,
      unit: '%',
      value: null,
      pass: null,
    },
    logged: {
      id: 'serving-full-log-cost',
      label:
        'requests/s lost to /metrics + logging every request (plain primary, from server CPU per request, worst concurrency)',
      target: `<= ${WATCH_TARGET * 100}`,
      unit: '%',
      value: null,
      pass: null,
    },
  };
  res.targets.push(watchTargets.primary, watchTargets.sampled, watchTargets.logged);
  res.requests = requests;
  res.warmup = warmup;

  const dir = await tempDir('serving');
  const floor = await startFloor();
  let cairn;
  const client = startClient();
  try {
    cairn = await startCairn(dir);
    const scenarios = cairn.problem ? ['floor'] : SCENARIOS;
    if (cairn.problem)
      for (const s of SCENARIOS.slice(1)) res.unavailable.push(`${LABELS[s]}: ${cairn.problem}`);
    const urls = { floor: floor.url, ...cairn.urls };
    const bodies = Object.fromEntries(scenarios.map((s) => [s, bodiesFor(s)]));
    const samples = {};
    const roles = {};
    // Repeat-major and interleaved, so that a noisy moment on the shared machine hits every contender.
    for (let r = 0; r < repeats; r++) {
      for (const concurrency of concurrencies) {
        for (const scenario of MEASURE_ORDER.filter((s) => scenarios.includes(s))) {
          // Every server runs in this process and the load generator in another: this process's CPU
          // time per request is what the server spends, and it hardly moves when the machine is busy.
          const cpuBefore = process.cpuUsage();
          const answer = await client.run({
            url: urls[scenario],
            bodies: bodies[scenario],
            requests,
            warmup,
            concurrency,
          });
          const cpu = process.cpuUsage(cpuBefore);
          const key = `${scenario}-c${concurrency}`;
          samples[key] ??= { rps: [], p50: [], p99: [], cpu: [] };
          samples[key].cpu.push((cpu.user + cpu.system) / (requests + warmup));
          samples[key].rps.push(answer.requests / (answer.ms / 1000));
          samples[key].p50.push(answer.latenciesMs.p50);
          samples[key].p99.push(answer.latenciesMs.p99);
          roles[scenario] ??= { primary: 0, canary: 0 };
          roles[scenario].primary += answer.roles.primary;
          roles[scenario].canary += answer.roles.canary;
        }
      }
    }

    const worst = [];
    for (const concurrency of concurrencies) {
      const base = samples[`floor-c${concurrency}`];
      const floorRps = stats(base.rps);
      const floorP50 = stats(base.p50);
      for (const scenario of scenarios) {
        const s = samples[`${scenario}-c${concurrency}`];
        const figure = {
          id: `${scenario}-c${concurrency}`,
          label: `${LABELS[scenario]}, concurrency ${concurrency}`,
          scenario,
          concurrency,
          unit: 'req/s',
          stats: stats(s.rps),
          p50: stats(s.p50),
          p99: stats(s.p99),
          cpuUsPerRequest: stats(s.cpu),
        };
        if (scenario !== 'floor') {
          figure.floor = floorRps;
          figure.floorLabel = 'floor req/s';
          figure.ratio = round(figure.stats.median / floorRps.median, 3);
          // Time per request above the floor: the server's extra work per request (exact at concurrency 1).
          figure.overheadUsPerRequest = round(1e6 / figure.stats.median - 1e6 / floorRps.median, 1);
          figure.p50OverheadMs = round(figure.p50.median - floorP50.median, 4);
          if (concurrency === 1) worst.push(figure.p50OverheadMs);
        }
        res.figures.push(figure);
      }
    }
    if (worst.length === SCENARIOS.length - 1) {
      // The p50 target is about routing (primary, canary, shadow), as before the watch scenarios.
      const routing = res.figures.filter(
        (f) => f.concurrency === 1 && ['primary', 'canary', 'shadow'].includes(f.scenario),
      );
      target.value = round(Math.max(...routing.map((f) => f.p50OverheadMs)), 3);
      target.pass = target.value < TARGET_MS;
    }
    // What watching costs: each scenario's floor ratio against the unwatched one's, from the same run.
    if (!cairn.problem) {
      for (const scenario of ['primary', 'sampled', 'logged']) {
        const costs = concurrencies.map((concurrency) => {
          const figure = res.figures.find((f) => f.id === `${scenario}-c${concurrency}`);
          const unwatched = res.figures.find((f) => f.id === `unwatched-c${concurrency}`);
          // A CPU-bound server's req/s is 1 / (CPU per request): the share of req/s lost is
          // 1 − unwatched CPU / watched CPU. The wall-clock ratio is noted too, but on a shared
          // machine it swings far more than 5 % from one measurement to the next.
          // Paired within each repeat (the two were measured one after the other), then the median over
          // repeats: a ratio of medians would pair samples taken minutes apart under another load.
          const watchedCpu = samples[`${scenario}-c${concurrency}`].cpu;
          const unwatchedCpu = samples[`unwatched-c${concurrency}`].cpu;
          const paired = watchedCpu.map((cpu, r) => 1 - unwatchedCpu[r] / cpu);
          const cpuCost = stats(paired).median;
          const ofMedians = 1 - unwatched.cpuUsPerRequest.median / figure.cpuUsPerRequest.median;
          return {
            concurrency,
            cost: cpuCost,
            paired,
            ofMedians,
            unwatchedUs: unwatched.cpuUsPerRequest.median,
            watchedUs: figure.cpuUsPerRequest.median,
            wallCost: 1 - figure.ratio / unwatched.ratio,
          };
        });
        const worstCost = costs.reduce((a, b) => (b.cost > a.cost ? b : a));
        watchTargets[scenario].value = round(worstCost.cost * 100, 2);
        watchTargets[scenario].pass = worstCost.cost <= WATCH_TARGET;
        res.notes.push(
          `${{ primary: '/metrics', sampled: '/metrics + 10 % prediction log', logged: '/metrics + full prediction log' }[scenario]} cost in req/s, from server CPU per request (paired within each repeat, median): ${costs
            .map(
              (c) =>
                `${round(c.cost * 100, 2)} % at concurrency ${c.concurrency} (repeats: ${c.paired.map((p) => round(p * 100, 1)).join(', ')} %; ratio of the medians ${round(c.ofMedians * 100, 2)} %, ${round(c.unwatchedUs, 1)} → ${round(c.watchedUs, 1)} µs)`,
            )
            .join(', ')}; from the wall-clock floor ratios of the same run: ${costs
            .map((c) => `${round(c.wallCost * 100, 2)} % at concurrency ${c.concurrency}`)
            .join(', ')} (negative: within the noise)`,
        );
      }
    }

    // The benchmark checks itself: every request was answered, the canary got about its share, the shadow ran.
    const answered = requests * repeats * concurrencies.length;
    for (const scenario of scenarios) {
      const seen = roles[scenario].primary + roles[scenario].canary;
      if (seen !== answered) throw new Error(`${scenario}: ${seen} answers for ${answered} requests`);
      if (scenario !== 'canary' && roles[scenario].canary !== 0)
        throw new Error(`${scenario}: ${roles[scenario].canary} answers came from a canary`);
    }
    if (!cairn.problem) {
      const share = roles.canary.canary / answered;
      // 1,000 unit ids cycled: the share is the split of those ids, 20 % give or take a few points (too few to tell below 200).
      if (answered >= 200 && (share < 0.1 || share > 0.3))
        throw new Error(`canary answered ${round(share * 100, 1)} % of requests`);
      res.canaryShare = round(share, 4);
      const health = await cairn.deployer.health('shadow');
      const shadowRoute = health.routes.find((route) => route.role === 'shadow');
      // Warm-ups included: the shadow sees every request the primary answered.
      const expected = (requests + warmup) * repeats * concurrencies.length;
      if (!shadowRoute || shadowRoute.requests < expected * 0.99)
        throw new Error(`the shadow ran ${shadowRoute?.requests} predictions for ${expected} requests`);
      res.shadowPredictions = shadowRoute.requests;
      // The log kept every request it answered (sample 1), warm-ups included: nothing was dropped.
      const logged = await cairn.loggedRows();
      if (logged !== expected)
        throw new Error(`the prediction log holds ${logged} rows for ${expected} requests`);
      res.loggedRows = logged;
      res.notes.push(
        `${requests} timed requests after ${warmup} warm-up per measurement, one row of 4 numbers per request; ` +
          `the canary answered ${round(share * 100, 1)} % of them, the shadow ran ${shadowRoute.requests} predictions`,
        'overhead µs/request = 1/(Cairn req/s) − 1/(floor req/s): at concurrency 1 the extra time per round trip, at 16 the extra server CPU per request, a lower bound (the floor rate there is close to what the one-core client can send); p50 +ms = Cairn p50 − floor p50',
      );
    }
  } finally {
    client.close();
    await cairn?.deployer?.close();
    for (const other of cairn?.others ?? []) await other.close();
    await floor.close();
    await removeDir(dir);
  }
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({
      requests: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
    });
    await finish(await serving(options), options.out);
  });
}
