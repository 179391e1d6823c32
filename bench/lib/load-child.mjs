/**
 * Child process of the serving benchmark: the one load generator that drives
 * both the bare node:http floor and the Cairn model server. It runs in its
 * own process so that the client's CPU never competes with the server's event
 * loop (on two cores: one each). `undici`'s Pool is not resolvable from this
 * repository, so this is a small keep-alive client on node:http.
 *
 * Protocol (IPC): the parent sends
 *   `{ url, bodies, requests, warmup, concurrency }`
 * and gets back
 *   `{ ok: true, ms, requests, latenciesMs: { p50, p99 }, roles: { primary, canary } }`
 * or `{ ok: false, error }`. Each request posts `bodies[i % bodies.length]`.
 *
 * Or `{ targets: [{ url, bodies }, …], requests, warmup, concurrency }`:
 * several servers driven at once, each over `concurrency` connections of its
 * own, so that whatever else the machine does hits all of them alike. Each
 * gets `warmup` requests (all at once too), then they share one timed window
 * that ends when `requests × targets` requests were sent in all: the faster
 * server answers more of them. The answer is
 *   `{ ok: true, ms, targets: [{ requests, latenciesMs, roles }, …] }`.
 *
 * Or `{ saturate: [{ url, bodies }, …], concurrency, ms }`: the watch-cost
 * measurement. Each target gets `concurrency` connections of its own and
 * they are all driven at once for `ms` milliseconds by a raw HTTP/1.1 client
 * on node:net (pre-built requests, a minimal response parser): several times
 * cheaper per request than node:http's client, so that one client core keeps
 * the servers' core busy and what is compared is the servers' work, not the
 * client's. The answer is `{ ok: true, ms, targets: [{ requests }, …] }`.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

/** Post one body; resolves with the latency in ms and the answer's text once it is fully read. */
function post(agent, target, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`${target.href} answered ${res.statusCode}: ${text.slice(0, 300)}`));
            return;
          }
          resolve({ ms: performance.now() - started, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Requests over `concurrency` keep-alive connections, each connection one
 * request at a time, until `shared.count` were sent (a count shared with
 * the other targets of a simultaneous measurement); `done` is how many this
 * target answered.
 */
async function drive(agent, target, bodies, shared, concurrency, latencies, roles) {
  let done = 0;
  const worker = async () => {
    while (shared.issued < shared.count) {
      shared.issued++;
      const i = done++;
      const { ms, text } = await post(agent, target, bodies[i % bodies.length]);
      if (latencies) latencies.push(ms);
      // A string test, not a parse: the client must stay cheaper than the servers it compares.
      if (text.includes('"role":"canary"')) roles.canary++;
      else if (text.includes('"predictions":')) roles.primary++;
      else throw new Error(`${target.href} answered without predictions: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

async function measure({ url, bodies, targets, requests, warmup, concurrency }) {
  const list = (targets ?? [{ url, bodies }]).map((t) => ({
    target: new URL(t.url),
    bodies: t.bodies,
    agent: new Agent({ keepAlive: true, maxSockets: concurrency }),
  }));
  try {
    // Each target's warm-up is its own count; they run at the same time.
    await Promise.all(
      list.map((t) =>
        drive(t.agent, t.target, t.bodies, { issued: 0, count: warmup }, concurrency, undefined, {
          primary: 0,
          canary: 0,
        }),
      ),
    );
    const shared = { issued: 0, count: requests * list.length };
    const timed = list.map(() => ({ latencies: [], roles: { primary: 0, canary: 0 } }));
    const started = performance.now();
    const counts = await Promise.all(
      list.map((t, i) =>
        drive(t.agent, t.target, t.bodies, shared, concurrency, timed[i].latencies, timed[i].roles),
      ),
    );
    const ms = performance.now() - started;
    const answers = timed.map(({ latencies, roles }, i) => {
      const sorted = Float64Array.from(latencies).sort();
      return {
        requests: counts[i],
        latenciesMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
        roles,
      };
    });
    return targets ? { ok: true, ms, targets: answers } : { ok: true, ms, ...answers[0] };
  } finally {
    for (const t of list) t.agent.destroy();
  }
}

/**
 * One keep-alive connection posting `requests[i]`, one at a time, until `state.stop`; resolves
 * with how many were answered. Any answer but a 200 with predictions in it fails the measurement.
 */
function rawConnection(target, requests, first, state) {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname);
    socket.setNoDelay(true);
    let pending = null;
    let next = first;
    let answered = 0;
    const send = () => socket.write(requests[next++ % requests.length]);
    const fail = (error) => {
      socket.destroy();
      reject(error);
    };
    socket.on('connect', send);
    socket.on('error', fail);
    socket.on('close', () => {
      if (!state.stop) fail(new Error(`${target.href} closed the connection`));
    });
    socket.on('data', (chunk) => {
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) break;
        const head = buf.toString('latin1', 0, headEnd);
        const length = /content-length: *(\d+)/i.exec(head);
        if (!length) return fail(new Error(`${target.href} answered without a content-length: ${head}`));
        const end = headEnd + 4 + Number(length[1]);
        if (buf.length < end) break;
        const predictions = buf.indexOf('"predictions":', headEnd);
        if (!head.startsWith('HTTP/1.1 200') || predictions < 0 || predictions >= end)
          return fail(new Error(`${target.href} answered: ${buf.toString('utf8', 0, Math.min(end, 300))}`));
        answered++;
        buf = buf.subarray(end);
        if (state.stop) {
          socket.removeAllListeners('close');
          socket.destroy();
          resolve(answered);
          return;
        }
        send();
      }
      pending = buf.length > 0 ? buf : null;
    });
  });
}

async function saturate({ saturate: targets, concurrency, ms }) {
  const state = { stop: false };
  const built = targets.map(({ url, bodies }) => {
    const target = new URL(url);
    const requests = bodies.map((body) =>
      Buffer.from(
        `POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    );
    return { target, requests };
  });
  const started = performance.now();
  const timer = setTimeout(() => {
    state.stop = true;
  }, ms);
  try {
    const counts = await Promise.all(
      built.map(({ target, requests }) =>
        Promise.all(Array.from({ length: concurrency }, (_, c) => rawConnection(target, requests, c, state))),
      ),
    );
    return {
      ok: true,
      ms: performance.now() - started,
      targets: counts.map((perConnection) => ({ requests: perConnection.reduce((a, b) => a + b, 0) })),
    };
  } finally {
    clearTimeout(timer);
    state.stop = true;
  }
}

process.on('message', (job) => {
  (job.saturate ? saturate(job) : measure(job)).then(
    (answer) => process.send(answer),
    (error) => process.send({ ok: false, error: String(error?.stack ?? error) }),
  );
});
// The parent closing the channel is the signal to go.
process.on('disconnect', () => process.exit(0));
