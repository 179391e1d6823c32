#!/usr/bin/env node
/**
 * Serving: the local model server (`@cairn/deploy-local`) against a bare
 * `node:http` server that parses the same JSON body, runs the same trivial
 * predictor and answers the same JSON. Three routing scenarios: a plain
 * primary, a 20 % canary with a `unitId` in every request (the hashing
 * path), and a primary with a shadow (one extra prediction off the
 * request's path). Three more plain primaries measure what watching costs:
 * metrics off (the server as it was before /metrics), metrics on + 10 % of
 * requests in the prediction log, metrics on + every request logged (sample
 * 1, the default); against `unwatched`, `primary` gives the cost of /metrics.
 *
 * Every server runs alone in a child process of its own
 * (lib/server-child.mjs), so a prediction log's writes, a GC or a timer of
 * one never lands in another's measurement, and each one's CPU time per
 * request is its own. One load generator in another child process
 * (lib/load-child.mjs) drives them at concurrency 1 and 16, in a series of
 * short rounds; each round measures every scenario alone once, in a
 * shuffled order (the table's rows and their ratios to the floor, median of
 * the per-round ratios).
 *
 * What watching costs is measured apart, after the table, in a way a shared
 * two-core machine cannot blur, on servers of its own: the unwatched server,
 * the three watched ones and a control (a second, identical unwatched server)
 * are pinned (taskset) to the same core, warmed up until their CPU per
 * request settles (fresh processes compile their hot code for seconds: see
 * warmUp), and driven all at once for a second by a raw HTTP client
 * pinned to the other core, over connections of their own. They share one
 * core, so whatever else happens on the machine weighs on all of them alike,
 * and the one that spends more per request answers fewer: a watched
 * server's cost is 1 − its req/s ÷ the unwatched server's (and the same from
 * each server's CPU time per request), pooled over the rounds (the log
 * writes its batches when they fill, in whichever round) with a 95 %
 * bootstrap interval. Two processes of the same server differ by a few per
 * cent (where their heap and code landed), so the rounds come in several
 * sets of five fresh processes (`--watch-epochs`), and the interval
 * resamples the sets as well as the rounds. The control's "cost" is what the
 * method reads when there is nothing to find.
 * Every table measurement ends by writing what the server's prediction log holds:
 * its cost counts in the server's own CPU time.
 *
 *   node bench/serving.mjs
 *   node bench/serving.mjs --requests 2000 --warmup 200 --concurrency 1,16 --repeats 4
 *   node bench/serving.mjs --watch-rounds 20 --watch-epochs 4 --watch-ms 1000   # the watch-cost pairs only get longer
 *   node bench/serving.mjs --cpu-prof-dir /tmp/prof   # a V8 CPU profile of each server process
 *   node bench/serving.mjs --watch-warm-requests 500   # a shorter warm-up of the watch-cost sets (smoke test)
 *
 * Requests default to 4,000 timed after 400 warm-up per measurement (per server), 8 rounds, then
 * 20 watch-cost rounds of 1 s per concurrency in 4 sets of fresh processes, each set warmed up
 * first (about 10 s at concurrency 1): about 4 minutes.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
/** What each watched server adds to the unwatched one. */
const WATCHING = {
  primary: { id: 'serving-metrics-cost', what: '/metrics' },
  sampled: { id: 'serving-watch-cost', what: '/metrics + logging 10 % of requests' },
  logged: { id: 'serving-full-log-cost', what: '/metrics + logging every request' },
};
/** Two identical unwatched servers: the watch-cost method's reading when there is nothing to find. */
const CONTROL = 'control';
const TARGET_MS = 0.5;
/** Most that /metrics, and /metrics with the prediction log, may cost in requests/s against the unwatched server. */
const WATCH_TARGET = 0.05;

/** A small seeded generator (mulberry32): the shuffled orders are the same from run to run. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function shuffled(list, next) {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/**
 * A distribution-free interval for the median of `samples`: order statistics
 * k and n + 1 − k, with k the largest whose coverage is still ≥ 95 % (the
 * whole range below 6 samples, where no narrower one reaches 95 %).
 */
export function medianInterval(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  // P(Binomial(n, ½) ≤ i), summed term by term.
  let k = 1;
  let tail = 0.5 ** n;
  for (let i = 1; i < n / 2; i++) {
    // Coverage of [x(i+1), x(n−i)] is 1 − 2·P(B ≤ i).
    const next = tail + choose(n, i) * 0.5 ** n;
    if (1 - 2 * next < 0.95) break;
    tail = next;
    k = i + 1;
  }
  return { low: sorted[k - 1], high: sorted[n - k] };
}

function choose(n, k) {
  let c = 1;
  for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
  return c;
}

/** One server of one scenario in a child process of its own (lib/server-child.mjs). */
function startServer(scenario, dir, cpuProfDir) {
  const profile = cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${scenario}.cpuprofile`]
    : [];
  const child = fork(join(BENCH_DIR, 'lib', 'server-child.mjs'), [scenario, dir], {
    // The floor needs no workspace package: tsx and source conditions (the smoke test's) stay out of it.
    execArgv: [...(scenario === 'floor' ? [] : process.execArgv), ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map();
  let nextId = 0;
  let exited = false;
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.id === undefined) {
        resolve(message);
        return;
      }
      const w = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.ok) w?.resolve(message);
      else w?.reject(new Error(`${scenario} server: ${message.error}`));
    });
    child.on('exit', (code) => {
      exited = true;
      const error = new Error(`the ${scenario} server exited with ${code}`);
      reject(error);
      for (const w of waiting.values()) w.reject(error);
      waiting.clear();
    });
  });
  const ask = (op, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.send({ id, op, ...extra });
    });
  return {
    pid: child.pid,
    ready,
    /** The server's CPU time so far in µs (user + system, and user), once its prediction log is written (unless `flush` is false). */
    cpu: async (flush = true) => {
      const { cpuUs, userUs } = await ask('cpu', { flush });
      return { cpuUs, userUs };
    },
    /** Close it and get what it checked (shadow predictions, logged rows); it exits. */
    close: async () => {
      const answer = await ask('close');
      await new Promise((resolve) => (exited ? resolve() : child.once('exit', resolve)));
      return answer;
    },
    kill: () => {
      if (!exited) child.kill();
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
    pid: child.pid,
    close: () => child.disconnect(),
  };
}

/**
 * Two cores of this process's affinity list to pin the watch-cost measurement to: one for the
 * client, one for the servers; `undefined` (with why) where taskset or a second core is missing.
 */
function pinningCores() {
  try {
    const list = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
    const cores = (list.split(':').pop() ?? '')
      .trim()
      .split(',')
      .flatMap((part) => {
        const [from, to = from] = part.split('-').map(Number);
        return Array.from({ length: to - from + 1 }, (_, i) => from + i);
      })
      .filter(Number.isInteger);
    if (cores.length < 2) return { why: `only core ${cores.join(',')} is available` };
    return { client: cores[0], server: cores[1] };
  } catch (error) {
    return { why: `taskset failed: ${String(error.message).split('\n')[0]}` };
  }
}

/** Pin a process and every thread it has (libuv's pool, V8's workers) to one core; threads it starts later inherit it. */
function pin(pid, core) {
  execFileSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
}

const pct = (value) => round(value * 100, 2);

/**
 * What watching costs over a set of rounds (indices into `pair.on`/`pair.off`), pooled: all the
 * requests and CPU time of those rounds together, so that a batch the log wrote in one round
 * counts against every request it holds. `rps`: 1 − watched answers ÷ unwatched answers (the same
 * windows); `cpu`: 1 − unwatched CPU per request ÷ watched CPU per request; `user`: the same, user CPU.
 */
function pooledCost(pair, rounds) {
  const sum = (side, field) => rounds.reduce((total, r) => total + pair[side][r][field], 0);
  const [onN, offN] = [sum('on', 'answered'), sum('off', 'answered')];
  return {
    rps: 1 - onN / offN,
    cpu: 1 - sum('off', 'cpuUs') / offN / (sum('on', 'cpuUs') / onN),
    user: 1 - sum('off', 'userUs') / offN / (sum('on', 'userUs') / onN),
    watchedUs: sum('on', 'cpuUs') / onN,
    unwatchedUs: sum('off', 'cpuUs') / offN,
  };
}

/**
 * The pooled cost of every round, and a 95 % percentile-bootstrap interval (seeded). The rounds
 * come in `epochs` runs of fresh server processes, `n / epochs` rounds each: the resampling is in
 * two stages, epochs with replacement, then rounds within each chosen epoch, so that the interval
 * carries how much one set of processes differs from another, not only round-to-round noise.
 */
function watchCost(pair, seed, epochs = 1) {
  const n = pair.on.length;
  const perEpoch = n / epochs;
  const every = Array.from({ length: n }, (_, i) => i);
  const value = pooledCost(pair, every);
  const next = random(seed);
  const resampled = { rps: [], cpu: [], user: [] };
  for (let b = 0; b < 2000; b++) {
    const chosen = [];
    for (let e = 0; e < epochs; e++) {
      const epoch = Math.floor(next() * epochs);
      for (let r = 0; r < perEpoch; r++) chosen.push(epoch * perEpoch + Math.floor(next() * perEpoch));
    }
    const cost = pooledCost(pair, chosen);
    for (const kind of Object.keys(resampled)) resampled[kind].push(cost[kind]);
  }
  const interval = (kind) => {
    const sorted = resampled[kind].sort((a, b) => a - b);
    return { median: value[kind], low: sorted[49], high: sorted[1949] };
  };
  // Each round alone too: what a noisy round did, in the JSON.
  const perRound = every.map((r) => pooledCost(pair, [r]));
  // And each epoch: what one set of processes read.
  const perEpochCost = Array.from({ length: epochs }, (_, e) =>
    pooledCost(pair, every.slice(e * perEpoch, (e + 1) * perEpoch)),
  );
  return {
    rps: { ...interval('rps'), rounds: perRound.map((c) => c.rps), epochs: perEpochCost.map((c) => c.rps) },
    cpu: { ...interval('cpu'), rounds: perRound.map((c) => c.cpu), epochs: perEpochCost.map((c) => c.cpu) },
    user: {
      ...interval('user'),
      rounds: perRound.map((c) => c.user),
      epochs: perEpochCost.map((c) => c.user),
    },
    watchedUs: value.watchedUs,
    unwatchedUs: value.unwatchedUs,
  };
}

/**
 * The watch costs (see the header): the unwatched server, the three watched ones and the control
 * (an identical unwatched server), all pinned to one core and driven at once for `watchMs` by the
 * raw client pinned to another. In `epochs` runs, each with five fresh server processes of its
 * own (one process can be a few per cent faster or slower than an identical one: where its heap
 * and code landed), warmed up until their CPU per request settles (warmUp), then `watchRounds / epochs` rounds per concurrency, then closed (the
 * logged server's log must hold every request it answered). Returns, per
 * `${watched}-c${concurrency}`, each round's measurements of the watched and the unwatched server,
 * epoch after epoch.
 */
async function watchCosts({
  dir,
  cpuProfDir,
  client,
  bodies,
  concurrencies,
  watchRounds,
  watchEpochs,
  watchMs,
  warmRequests,
  next,
  res,
}) {
  const watched = [...Object.keys(WATCHING), CONTROL];
  const all = ['unwatched', ...watched];
  const cores = pinningCores();
  if (cores.why) {
    res.notes.push(`Watch costs NOT pinned (${cores.why}): the servers and the client share the cores.`);
  } else {
    pin(client.pid, cores.client);
    res.watchCores = cores;
  }
  const pairs = {};
  /** Each set's warm-up per concurrency: how long it took, and what watching cost while it lasted. */
  const warmUps = [];
  let loggedRows = 0;
  const perEpoch = watchRounds / watchEpochs;
  for (let epoch = 0; epoch < watchEpochs; epoch++) {
    const servers = {};
    const profiles = cpuProfDir && join(cpuProfDir, `watch-${epoch}`);
    if (profiles) await mkdir(profiles, { recursive: true });
    try {
      for (const s of all) {
        const at = join(dir, `watch-${epoch}`, s);
        await mkdir(at, { recursive: true });
        servers[s] = startServer(s, at, profiles);
      }
      const started = Object.fromEntries(
        await Promise.all(all.map(async (s) => [s, await servers[s].ready])),
      );
      const problem = all.map((s) => started[s].problem).find(Boolean);
      if (problem) throw new Error(`a watch-cost server did not start: ${problem}`);
      if (!cores.why) for (const s of all) pin(servers[s].pid, cores.server);
      let loggedAnswered = 0;
      // The prediction log is not made to write at the end of each round: its batches are written when
      // they fill (or on its timer), as in service, and land in whichever round they fall in; the
      // pooled costs count them all.
      const drive = async (group, concurrency, ms) => {
        const before = await Promise.all(group.map((s) => servers[s].cpu(false)));
        const answer = await client.run({
          saturate: group.map((s) => ({ url: started[s].url, bodies: bodies[s] })),
          concurrency,
          ms,
        });
        const after = await Promise.all(group.map((s) => servers[s].cpu(false)));
        loggedAnswered += answer.targets[group.indexOf('logged')].requests;
        return group.map((s, i) => {
          const answered = answer.targets[i].requests;
          if (!(answered > 0)) throw new Error(`the ${s} server answered nothing in ${ms} ms`);
          return {
            answered,
            cpuUs: after[i].cpuUs - before[i].cpuUs,
            userUs: after[i].userUs - before[i].userUs,
          };
        });
      };
      for (const concurrency of concurrencies) {
        // Warm-up at this concurrency, on the pinned cores, before any round counts (see warmUp).
        const warm = await warmUp(all, (ms) => drive(all, concurrency, ms), watchMs, warmRequests);
        warmUps.push({ epoch, concurrency, ...warm });
        for (let r = 0; r < perEpoch; r++) {
          // Every server in every round, treated alike; which one's connections open first is shuffled.
          const order = shuffled(all, next);
          const measured = await drive(order, concurrency, watchMs);
          const off = measured[order.indexOf('unwatched')];
          for (const w of watched) {
            const key = `${w}-c${concurrency}`;
            pairs[key] ??= { on: [], off: [] };
            pairs[key].on.push(measured[order.indexOf(w)]);
            pairs[key].off.push(off);
          }
        }
      }
      // Closed, not killed: each writes its CPU profile (--cpu-prof-dir) as it exits.
      const closed = await Promise.all(all.map((s) => servers[s].close()));
      for (const s of all) delete servers[s];
      const checks = closed[all.indexOf('logged')];
      // The log kept every request the logged server answered (sample 1): nothing was dropped.
      if (checks.loggedRows !== loggedAnswered)
        throw new Error(`the prediction log holds ${checks.loggedRows} rows for ${loggedAnswered} requests`);
      loggedRows += loggedAnswered;
    } finally {
      for (const server of Object.values(servers)) server.kill();
    }
  }
  return { pairs, loggedRows, warmUps };
}

/** Requests every server answers in its warm-up, at least, by default (see warmUp; `--watch-warm-requests`). */
const WARM_REQUESTS = 10_000;
/** The warm-up ends once the servers' CPU per request falls by less than this from one window to the next... */
const WARM_SETTLED = 0.05;
/** ...or after this many windows. */
const WARM_MAX_WINDOWS = 60;

/**
 * Drive fresh servers until they run as they will in service, before any round counts. For its
 * first seconds a server is still compiling its hot code (V8's tiers), and its CPU per request
 * falls several-fold: five servers sharing one core at concurrency 1 went from about 500 to 90 µs
 * a request over their first 7 s (about 7,500 requests each). A round in that stretch measures how
 * fast the code warms up, not what watching costs a server in service: a fixed 2 s warm-up left
 * the first rounds there and read /metrics at 6–9 % where warm servers read 1–2 %.
 *
 * Windows of `windowMs` until every server has answered `warmRequests` and the pooled CPU per
 * request of all of them fell by less than WARM_SETTLED from the window before (at most
 * WARM_MAX_WINDOWS). Returns how long it took and, pooled over its windows, what each watched
 * server answered and spent against the unwatched one (what a fresh server's first seconds cost;
 * reported beside the costs, never in them).
 */
async function warmUp(group, driveFor, windowMs, warmRequests) {
  /** Each window's measurements, in `group`'s order. */
  const windows = [];
  const answered = new Array(group.length).fill(0);
  let previous = Number.POSITIVE_INFINITY;
  for (;;) {
    const measured = await driveFor(windowMs);
    windows.push(measured);
    measured.forEach((m, i) => {
      answered[i] += m.answered;
    });
    const perRequest =
      measured.reduce((t, m) => t + m.cpuUs, 0) / measured.reduce((t, m) => t + m.answered, 0);
    const settled = perRequest > previous * (1 - WARM_SETTLED);
    previous = perRequest;
    if ((settled && Math.min(...answered) >= warmRequests) || windows.length >= WARM_MAX_WINDOWS) break;
  }
  // Pooled over the warm-up's windows, as the rounds' costs are pooled over the rounds.
  const off = group.indexOf('unwatched');
  const every = windows.map((_, w) => w);
  const costs = Object.fromEntries(
    group
      .filter((s) => s !== 'unwatched')
      .map((s) => {
        const i = group.indexOf(s);
        const { rps, cpu } = pooledCost(
          { on: windows.map((m) => m[i]), off: windows.map((m) => m[off]) },
          every,
        );
        return [s, { rps, cpu }];
      }),
  );
  return { windows: windows.length, ms: windows.length * windowMs, usPerRequest: round(previous, 1), costs };
}

export async function serving(options) {
  const rounds = parseRepeats(options.repeats, 8);
  const requests = parseSizes(options.requests, [4_000])[0];
  const warmup = parseSizes(options.warmup, [400])[0];
  const concurrencies = parseSizes(options.concurrency, [1, 16]);
  const seed = parseSizes(options.seed, [1])[0];
  const watchRounds = parseSizes(options['watch-rounds'], [20])[0];
  const watchEpochs = parseSizes(options['watch-epochs'], [4])[0];
  if (watchRounds % watchEpochs !== 0)
    throw new Error(`--watch-rounds (${watchRounds}) must be a multiple of --watch-epochs (${watchEpochs})`);
  const watchMs = parseSizes(options['watch-ms'], [1000])[0];
  const warmRequests = parseSizes(options['watch-warm-requests'], [WARM_REQUESTS])[0];
  const cpuProfDir = options['cpu-prof-dir'] ? resolve(options['cpu-prof-dir']) : undefined;
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
  const watchTargets = {};
  for (const [scenario, { id, what }] of Object.entries(WATCHING)) {
    const common = { target: `<= ${WATCH_TARGET * 100}`, unit: '%', value: null, pass: null };
    watchTargets[scenario] = {
      rps: {
        id,
        label: `requests/s lost to ${what} (plain primary against metrics off, on one core, driven at once with it, pooled over rounds, worst concurrency)`,
        ...common,
      },
      // Secondary: the same pairs read from each server's own CPU time per request.
      cpu: {
        id: `${id}-cpu`,
        label: `requests/s lost to ${what}, from server CPU per request (1 − CPU off / CPU on, the same rounds, pooled, worst concurrency)`,
        ...common,
      },
    };
  }
  for (const t of Object.values(watchTargets)) res.targets.push(t.rps);
  for (const t of Object.values(watchTargets)) res.targets.push(t.cpu);
  res.requests = requests;
  res.warmup = warmup;
  res.rounds = rounds;
  res.watchRounds = watchRounds;
  res.watchEpochs = watchEpochs;
  res.watchMs = watchMs;
  res.watchWarmRequests = warmRequests;

  const dir = await tempDir('serving');
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const servers = {};
  const client = startClient();
  try {
    for (const scenario of SCENARIOS) {
      await mkdir(join(dir, scenario));
      servers[scenario] = startServer(scenario, join(dir, scenario), cpuProfDir);
    }
    const started = Object.fromEntries(
      await Promise.all(SCENARIOS.map(async (s) => [s, await servers[s].ready])),
    );
    const problem = SCENARIOS.map((s) => started[s].problem).find(Boolean);
    if (!started.floor.ok) throw new Error(`the floor server did not start: ${started.floor.problem}`);
    const scenarios = problem ? ['floor'] : SCENARIOS;
    if (problem) {
      for (const s of SCENARIOS.slice(1)) res.unavailable.push(`${LABELS[s]}: ${problem}`);
      for (const s of SCENARIOS.slice(1)) {
        servers[s].kill();
        delete servers[s];
      }
    }
    const bodies = Object.fromEntries([...scenarios, CONTROL].map((s) => [s, bodiesFor(s)]));
    /** `${scenario}-c${concurrency}` → one sample per round. */
    const samples = {};
    const roles = {};
    /** Requests of the warm-up before the first round, to the logged and shadow servers. */
    let preLogged = 0;
    let preShadow = 0;
    // Every server's code optimized before the first round: a fresh process's first thousands of
    // requests run cold code, which no round may measure.
    for (const concurrency of concurrencies) {
      for (const scenario of scenarios) {
        await client.run({
          url: started[scenario].url,
          bodies: bodies[scenario],
          requests: 5 * warmup,
          warmup: 0,
          concurrency,
        });
        if (scenario === 'logged') preLogged += 5 * warmup;
        if (scenario === 'shadow') preShadow += 5 * warmup;
      }
    }
    const next = random(seed);
    // Round-major, every scenario once per round in a shuffled order: a noisy moment on the shared
    // machine hits one measurement of a round, and the per-round ratios' median leaves it out.
    for (let r = 0; r < rounds; r++) {
      for (const concurrency of concurrencies) {
        for (const scenario of shuffled(scenarios, next)) {
          const server = servers[scenario];
          const cpuBefore = await server.cpu();
          const answer = await client.run({
            url: started[scenario].url,
            bodies: bodies[scenario],
            requests,
            warmup,
            concurrency,
          });
          // Asked after the load: the prediction log's waiting rows are written first, in this measurement.
          const cpuAfter = await server.cpu();
          const key = `${scenario}-c${concurrency}`;
          samples[key] ??= { rps: [], p50: [], p99: [], cpu: [], user: [] };
          samples[key].cpu.push((cpuAfter.cpuUs - cpuBefore.cpuUs) / (requests + warmup));
          samples[key].user.push((cpuAfter.userUs - cpuBefore.userUs) / (requests + warmup));
          samples[key].rps.push(answer.requests / (answer.ms / 1000));
          samples[key].p50.push(answer.latenciesMs.p50);
          samples[key].p99.push(answer.latenciesMs.p99);
          roles[scenario] ??= { primary: 0, canary: 0 };
          roles[scenario].primary += answer.roles.primary;
          roles[scenario].canary += answer.roles.canary;
        }
      }
    }
    // What watching costs, measured apart (see the header): every watched server on one pinned core, driven at once.
    const {
      pairs,
      loggedRows: pairedLogged,
      warmUps,
    } = problem
      ? { pairs: {}, loggedRows: 0, warmUps: [] }
      : await watchCosts({
          dir,
          cpuProfDir,
          client,
          bodies,
          concurrencies,
          watchRounds,
          watchEpochs,
          watchMs,
          warmRequests,
          next,
          res,
        });

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
          // The median of each round's ratio to the floor measured in the same round.
          figure.ratios = stats(s.rps.map((rps, r) => rps / base.rps[r]));
          figure.ratio = round(figure.ratios.median, 3);
          // Time per request above the floor: the server's extra work per request (exact at concurrency 1).
          figure.overheadUsPerRequest = round(1e6 / figure.stats.median - 1e6 / floorRps.median, 1);
          figure.p50OverheadMs = round(figure.p50.median - floorP50.median, 4);
          if (concurrency === 1 && ['primary', 'canary', 'shadow'].includes(scenario))
            worst.push(figure.p50OverheadMs);
        }
        res.figures.push(figure);
      }
    }
    if (worst.length === 3) {
      // The p50 target is about routing (primary, canary, shadow).
      target.value = round(Math.max(...worst), 3);
      target.pass = target.value < TARGET_MS;
    }
    // What watching costs: each watched server against the unwatched one, on one core, driven at
    // the same time, pooled over rounds; the table's one-at-a-time measurements beside it.
    if (!problem) {
      const summary = (costs) => ({ median: stats(costs).median, ...medianInterval(costs), rounds: costs });
      const range = (c) => `${pct(c.median)} % [${pct(c.low)}, ${pct(c.high)}]`;
      const control = concurrencies.map((concurrency) => {
        const cost = watchCost(pairs[`${CONTROL}-c${concurrency}`], seed, watchEpochs);
        return `concurrency ${concurrency}: req/s ${range(cost.rps)}, server CPU ${range(cost.cpu)}`;
      });
      res.watchWarmUps = warmUps.map((w) => ({
        ...w,
        costs: Object.fromEntries(
          Object.entries(w.costs).map(([s, c]) => [s, { rps: pct(c.rps), cpu: pct(c.cpu) }]),
        ),
      }));
      const warmCost = (s, concurrency) => {
        const those = warmUps.filter((w) => w.concurrency === concurrency);
        return pct(stats(those.map((w) => w.costs[s].rps)).median);
      };
      res.notes.push(
        `Warm-up before the rounds of each set, per concurrency: until every server had answered ${warmRequests} requests and their CPU per request fell by less than ${WARM_SETTLED * 100} % from one ${watchMs} ms window to the next (fresh servers compile their hot code for several seconds): ${concurrencies
          .map((concurrency) => {
            const ms = warmUps.filter((w) => w.concurrency === concurrency).map((w) => w.ms / 1000);
            const [low, high] = [Math.min(...ms), Math.max(...ms)];
            return `concurrency ${concurrency}: ${low === high ? low : `${low}–${high}`} s`;
          })
          .join(
            '; ',
          )}. Not counted in the costs; what watching cost during it (req/s, median of the sets), a fresh server's first seconds: ${concurrencies
          .map(
            (concurrency) =>
              `concurrency ${concurrency}: ${[...Object.keys(WATCHING), CONTROL].map((s) => `${s} ${warmCost(s, concurrency)} %`).join(', ')}`,
          )
          .join('; ')}`,
      );
      res.notes.push(
        `The method's zero — the control, a second unwatched server, measured as the watched ones are, pooled over ${watchRounds} rounds in ${watchEpochs} sets of fresh processes [95 % bootstrap interval over sets and rounds]: ${control.join('; ')}`,
      );
      for (const scenario of Object.keys(WATCHING)) {
        const costs = concurrencies.map((concurrency) => {
          const watched = samples[`${scenario}-c${concurrency}`];
          const unwatched = samples[`unwatched-c${concurrency}`];
          return {
            concurrency,
            ...watchCost(pairs[`${scenario}-c${concurrency}`], seed, watchEpochs),
            alone: {
              rps: summary(watched.rps.map((rps, r) => 1 - rps / unwatched.rps[r])),
              cpu: summary(watched.cpu.map((cpu, r) => 1 - unwatched.cpu[r] / cpu)),
            },
          };
        });
        for (const kind of ['rps', 'cpu']) {
          const worstCost = costs.reduce((a, b) => (b[kind].median > a[kind].median ? b : a));
          const t = watchTargets[scenario][kind];
          t.value = pct(worstCost[kind].median);
          t.pass = worstCost[kind].median <= WATCH_TARGET;
          t.perConcurrency = costs.map((c) => ({
            concurrency: c.concurrency,
            value: pct(c[kind].median),
            interval: [pct(c[kind].low), pct(c[kind].high)],
            rounds: c[kind].rounds.map(pct),
            epochs: c[kind].epochs.map(pct),
            alone: {
              value: pct(c.alone[kind].median),
              interval: [pct(c.alone[kind].low), pct(c.alone[kind].high)],
            },
          }));
        }
        res.notes.push(
          `${WATCHING[scenario].what} cost, pooled over ${watchRounds} rounds of ${watchMs} ms in ${watchEpochs} sets of fresh processes [95 % bootstrap interval over sets and rounds]: ${costs
            .map(
              (c) =>
                `concurrency ${c.concurrency}: req/s ${range(c.rps)}, server CPU ${range(c.cpu)} (${round(c.unwatchedUs, 1)} → ${round(c.watchedUs, 1)} µs/request), user CPU alone ${range(c.user)}; ` +
                `the table's one-at-a-time measurements (unpinned, ${rounds} rounds, median): req/s ${range(c.alone.rps)}, server CPU ${range(c.alone.cpu)}`,
            )
            .join('; ')}`,
        );
      }
    }

    // The benchmark checks itself: every request was answered, the canary got about its share, the shadow ran.
    const answered = requests * rounds * concurrencies.length;
    for (const scenario of scenarios) {
      const seen = roles[scenario].primary + roles[scenario].canary;
      if (seen !== answered) throw new Error(`${scenario}: ${seen} answers for ${answered} requests`);
      if (scenario !== 'canary' && roles[scenario].canary !== 0)
        throw new Error(`${scenario}: ${roles[scenario].canary} answers came from a canary`);
    }
    if (!problem) {
      const share = roles.canary.canary / answered;
      // 1,000 unit ids cycled: the share is the split of those ids, 20 % give or take a few points (too few to tell below 200).
      if (answered >= 200 && (share < 0.1 || share > 0.3))
        throw new Error(`canary answered ${round(share * 100, 1)} % of requests`);
      res.canaryShare = round(share, 4);
      const checks = {};
      for (const scenario of scenarios) {
        Object.assign(checks, await servers[scenario].close());
        delete servers[scenario];
      }
      // Warm-ups included: the shadow sees every request the primary answered.
      const expected = (requests + warmup) * rounds * concurrencies.length;
      if (!(checks.shadowPredictions - preShadow >= expected * 0.99))
        throw new Error(`the shadow ran ${checks.shadowPredictions} predictions for ${expected} requests`);
      res.shadowPredictions = checks.shadowPredictions - preShadow;
      // The log kept every request it answered (sample 1), warm-ups included: nothing was dropped.
      if (checks.loggedRows !== expected + preLogged)
        throw new Error(
          `the prediction log holds ${checks.loggedRows} rows for ${expected + preLogged} requests`,
        );
      // Reported apart: the rows of the table's measurements, and of the watch-cost pairs.
      res.loggedRows = expected;
      res.loggedRowsPaired = pairedLogged;
      res.notes.push(
        `${requests} timed requests after ${warmup} warm-up per measurement, ${rounds} rounds, every scenario alone once per round in a shuffled order (seed ${seed}); each server in a process of its own; one row of 4 numbers per request; ` +
          `the canary answered ${round(share * 100, 1)} % of them, the shadow ran ${res.shadowPredictions} predictions`,
        'req/s vs floor: median of the per-round ratios; overhead µs/request = 1/(Cairn req/s) − 1/(floor req/s): at concurrency 1 the extra time per round trip, at 16 the extra server CPU per request, a lower bound (the floor rate there is close to what the one-core client can send); p50 +ms = Cairn p50 − floor p50',
      );
    }
    if (servers.floor) {
      await servers.floor.close();
      delete servers.floor;
    }
  } finally {
    client.close();
    for (const server of Object.values(servers)) server.kill();
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
      seed: { type: 'string' },
      'watch-rounds': { type: 'string' },
      'watch-ms': { type: 'string' },
      'watch-epochs': { type: 'string' },
      'watch-warm-requests': { type: 'string' },
      'cpu-prof-dir': { type: 'string' },
    });
    await finish(await serving(options), options.out);
  });
}
