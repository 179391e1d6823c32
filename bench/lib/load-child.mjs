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
 */
import { Agent, request } from 'node:http';

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

/** `count` requests over `concurrency` keep-alive connections, each connection one request at a time. */
async function drive(agent, target, bodies, count, concurrency, latencies, roles) {
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      const i = issued++;
      const { ms, text } = await post(agent, target, bodies[i % bodies.length]);
      if (latencies) latencies[i] = ms;
      // A string test, not a parse: the client must stay cheaper than the servers it compares.
      if (text.includes('"role":"canary"')) roles.canary++;
      else if (text.includes('"predictions":')) roles.primary++;
      else throw new Error(`${target.href} answered without predictions: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

async function measure({ url, bodies, requests, warmup, concurrency }) {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    await drive(agent, target, bodies, warmup, concurrency, undefined, { primary: 0, canary: 0 });
    const latencies = new Float64Array(requests);
    const roles = { primary: 0, canary: 0 };
    const started = performance.now();
    await drive(agent, target, bodies, requests, concurrency, latencies, roles);
    const ms = performance.now() - started;
    latencies.sort();
    return {
      ok: true,
      ms,
      requests,
      latenciesMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      roles,
    };
  } finally {
    agent.destroy();
  }
}

process.on('message', (job) => {
  measure(job).then(
    (answer) => process.send(answer),
    (error) => process.send({ ok: false, error: String(error?.stack ?? error) }),
  );
});
// The parent closing the channel is the signal to go.
process.on('disconnect', () => process.exit(0));
