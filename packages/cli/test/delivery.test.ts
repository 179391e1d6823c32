import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { localAbtest } from '@cairn/abtest-local';
import { localStore } from '@cairn/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairn, DEV_ENTRY, tempDir } from './helpers';

/** A port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on the port (we can bind it ourselves). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const PENGUIN = {
  island: 'Torgersen',
  bill_length_mm: 39.1,
  bill_depth_mm: 18.7,
  flipper_length_mm: 181,
  body_mass_g: 3750,
  sex: 'MALE',
};
const SPECIES = ['Adelie', 'Chinstrap', 'Gentoo'];

/** `cairn serve` as a background child: resolves once it prints its "Serving on" line. */
function startServe(
  args: string[],
  cwd: string,
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [DEV_ENTRY, 'serve', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Serving on http:\/\/\S+ {2}\(Ctrl-C to stop\)/.test(output)) {
        clearTimeout(timer);
        resolve({ child, output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
}

async function predict(url: string, unitId: string) {
  const response = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rows: [PENGUIN], unitId }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    predictions: Array<{ label: string }>;
    version: number;
    revision: number;
    role: string;
  };
}

// One linked project with a deployer and an A/B engine, driven as a user would.
describe('delivery commands on a project made with cairn new --link', () => {
  let cwd: string;
  let dir: string;
  let servePort: number;
  let serve: Awaited<ReturnType<typeof startServe>> | undefined;
  const json = async (args: string[]) => {
    const result = await cairn([...args, '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  };

  beforeAll(async () => {
    cwd = await tempDir('delivery');
    const made = await cairn(['new', 'shop', '--link', '--no-git'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'shop');
    const configFile = join(dir, 'cairn.config.ts');
    let config = readFileSync(configFile, 'utf8');
    for (const [slot, plugin] of [
      ['deployer:', 'deploy-local'],
      ['abtest:', 'abtest-local'],
    ] as const) {
      if (config.includes(slot)) continue;
      const added = await cairn(['add', plugin], dir);
      expect(added.code, added.stderr).toBe(0);
      config = readFileSync(configFile, 'utf8');
    }
    if (!config.includes('serving:')) {
      // The train step writes ml-random-forest bundles; src/predict.ts serves them.
      config = config.replace(
        /\n\s*defaultPipeline:/,
        "\n  serving: { loaders: { 'ml-random-forest': async (bundle) => (await import('./src/predict')).modelFromBundle(bundle) } },$&",
      );
    }
    // Ports of our own: the configured one (where a control-mode deployer would
    // listen if it served) and the one `serve --port` is given.
    const configuredPort = await freePort();
    servePort = await freePort();
    expect(config).toMatch(/localDeployer\(\{ port: 8080 \}\)/);
    writeFileSync(configFile, config.replace('port: 8080', `port: ${configuredPort}`));
    // Two registered versions: v1 in production, v2 (another seed) beside it.
    for (const args of [['run'], ['run', '--set', 'train.seed=7']]) {
      const run = await cairn(args, dir);
      expect(run.code, run.stderr + run.stdout).toBe(0);
    }
  });

  afterAll(() => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
  });

  it('deploy <model> deploys the production version as revision 1 (a no-op when it already serves)', async () => {
    const versions = await json(['registry', 'versions', 'penguins']);
    expect(versions.map((v: any) => [v.version, v.stage])).toContainEqual([1, 'production']);
    expect(versions.map((v: any) => v.version)).toContain(2);
    const text = await cairn(['deploy', 'penguins'], dir);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^penguins revision 1 \(deploy\): v1 100%/);
    const deployment = await json(['deploy', 'penguins']);
    expect(deployment).toMatchObject({ endpoint: 'penguins', revision: 1, change: 'deploy' });
    expect(deployment.routes).toEqual([
      {
        model: { model: 'penguins', version: 1, digest: versions.find((v: any) => v.version === 1).digest },
        role: 'primary',
        weight: 100,
      },
    ]);
  });

  it('deploy refuses an unknown model or version (exit 2) and changes nothing', async () => {
    const unknownVersion = await cairn(['deploy', 'penguins', '9'], dir);
    expect(unknownVersion.code).toBe(2);
    expect(unknownVersion.stderr).toMatch(/Model "penguins" has no version 9/);
    expect(unknownVersion.stderr).toMatch(/CAIRN_METADATA_NOT_FOUND/);
    const unknownModel = await cairn(['deploy', 'nope'], dir);
    expect(unknownModel.code).toBe(2);
    expect(unknownModel.stderr).toMatch(/No registered model "nope"/);
    const canaryWithoutPercent = await cairn(['deploy', 'penguins', '2', '--strategy', 'canary'], dir);
    expect(canaryWithoutPercent.code).toBe(2);
    expect(canaryWithoutPercent.stderr).toMatch(/--percent/);
    const badMetric = await cairn(
      ['deploy', 'penguins', '2', '--strategy', 'canary', '--percent', '30', '--metric', 'ok:binary'],
      dir,
    );
    expect(badMetric.code).toBe(2);
    // (oclif wraps the message at the terminal width.)
    expect(badMetric.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--metric "ok:binary" is not name\[:binomial\|continuous\]/,
    );
    expect(await json(['endpoints', 'history', 'penguins'])).toHaveLength(1);
  });

  it('loadtest measures a version on a staging endpoint, and refuses one over its threshold (exit 1)', async () => {
    const rows = join(dir, 'data', 'penguins.csv');
    const report = join(dir, 'loadtest.html');
    const passed = await cairn(
      [
        'loadtest',
        'penguins',
        '--version',
        '2',
        '--rows',
        rows,
        '--drop',
        'species',
        '--duration',
        '1',
        '--connections',
        '2',
        '--max-error-rate',
        '0',
        '--report',
        report,
        '--json',
      ],
      dir,
    );
    expect(passed.code, passed.stderr).toBe(0);
    const result = JSON.parse(passed.stdout);
    expect(result).toMatchObject({
      endpoint: 'penguins',
      stagingEndpoint: 'penguins-loadtest',
      model: { model: 'penguins', version: 2 },
      errors: 0,
      passed: true,
      failures: [],
    });
    expect(result.requests).toBeGreaterThan(0);
    expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p95);
    expect(result.latencyMs.p95).toBeLessThanOrEqual(result.latencyMs.p99);
    expect(result.timeline.reduce((sum: number, s: { requests: number }) => sum + s.requests, 0)).toBe(
      result.requests,
    );
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('Latency over time');
    expect(html).toContain('<svg');
    // --json names the report, and keeps the requests unanswered at the end whatever they were.
    expect(result.report).toBe(report);
    expect(result.unanswered).toEqual({
      requests: expect.any(Number),
      longestWaitMs: expect.any(Number),
    });

    // A healthy test's line does not speak of the requests in flight when it stopped.
    const healthy = await cairn(
      ['loadtest', 'penguins', '--rows', rows, '--drop', 'species', '--duration', '1', '--connections', '2'],
      dir,
    );
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/^penguins v1: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms, /m);
    expect(healthy.stdout).not.toMatch(/unanswered/);

    // No latency is under a microsecond: this threshold cannot be met, whatever the machine.
    const refusedLoadTest = (report: string) => [
      ...['loadtest', 'penguins', '--rows', rows, '--drop', 'species', '--duration', '1'],
      ...['--p99-ms', '0.001', '--report', report],
    ];
    const refusedReport = join(dir, 'reports', 'refused.html');
    const refused = await cairn(refusedLoadTest(refusedReport), dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/CAIRN_LOADTEST_FAILED/);
    // (oclif wraps the message at the terminal width.)
    const refusal = refused.stderr.replace(/\s+›?\s*/g, ' ');
    expect(refusal).toMatch(/penguins v1 failed its load test: p99 latency [\d.]+ ms > p99Ms 0.001 ms/);
    // A refused test keeps its report too, and says where.
    expect(readFileSync(refusedReport, 'utf8')).toMatch(/<strong>Refused<\/strong>: p99 latency/);
    expect(refused.stdout).toContain(`Report: ${refusedReport}`);
    expect(refusal).toContain(`Report: ${refusedReport}`);
    expect(refusal).toContain('--p99-ms');
    // A report it cannot write (a file stands where its folder would be) does not hide the refusal.
    const blocked = await cairn(
      [...refusedLoadTest(join(dir, 'package.json', 'refused.html')), '--json'],
      dir,
    );
    expect(blocked.code, blocked.stderr).toBe(1);
    expect(blocked.stderr).toMatch(/CAIRN_LOADTEST_FAILED/);
    const blockedText = blocked.stderr.replace(/\s+›?\s*/g, ' ');
    expect(blockedText).toMatch(/the report was not written: --report /);
    expect(blockedText).not.toMatch(/Report: /);
    expect(JSON.parse(blocked.stdout)).toMatchObject({ passed: false });
    expect(JSON.parse(blocked.stdout).report).toBeUndefined();
    // The production endpoint never changed, and the staging one is gone.
    const endpoints = await json(['endpoints']);
    expect(endpoints.map((e: { endpoint: string }) => e.endpoint)).toEqual(['penguins']);
    expect(await json(['endpoints', 'history', 'penguins'])).toHaveLength(1);

    const noRows = await cairn(['loadtest', 'penguins'], dir);
    expect(noRows.code).toBe(2);
    expect(noRows.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--rows <file.csv\|file.json> or --artifact <digest>/,
    );
    // A report path it could never write is refused before any load is sent: nothing runs.
    const folderReport = await cairn(
      ['loadtest', 'penguins', '--rows', rows, '--duration', '1', '--report', `${dir}/`],
      dir,
    );
    expect(folderReport.code).toBe(2);
    expect(folderReport.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(/--report .*: names a folder/);
    expect(folderReport.stdout).not.toMatch(/req\/s/);
    const badRate = await cairn(['loadtest', 'penguins', '--rows', rows, '--rate=-3'], dir);
    expect(badRate.code).toBe(2);
    expect(badRate.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--rate: expected requests per second, at least 1/,
    );
    // What the load generator cannot do is refused, not rounded: it ran 0.001 s for a second and
    // failed on 0.5 req/s.
    const halfRate = await cairn(['loadtest', 'penguins', '--rows', rows, '--rate', '0.5'], dir);
    expect(halfRate.code).toBe(2);
    expect(halfRate.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--rate: expected requests per second, at least 1/,
    );
    const partSecond = await cairn(['loadtest', 'penguins', '--rows', rows, '--duration', '0.001'], dir);
    expect(partSecond.code).toBe(2);
    expect(partSecond.stderr.replace(/\s+›?\s*/g, ' ')).toMatch(
      /--duration: expected whole seconds, from 1 to 3600/,
    );
  });

  it('loadtest stopped by SIGTERM removes its staging endpoint', async () => {
    const child = spawn(
      process.execPath,
      [
        DEV_ENTRY,
        'loadtest',
        'penguins',
        '--rows',
        join(dir, 'data', 'penguins.csv'),
        '--drop',
        'species',
        '--duration',
        '600',
      ],
      { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Once the generator runs (its first line is printed after the staging endpoint is deployed).
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/load test of penguins v\d+ on penguins-loadtest/.test(output)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then((code) =>
        reject(new Error(`loadtest exited with ${code} before it started:\n${output}`)),
      );
    });
    expect((await json(['endpoints'])).map((e: { endpoint: string }) => e.endpoint).sort()).toEqual([
      'penguins',
      'penguins-loadtest',
    ]);
    child.kill('SIGTERM');
    const code = await exited;
    expect(code, output).not.toBe(0);
    expect(output).toMatch(/CAIRN_RUN_CANCELLED/);
    expect((await json(['endpoints'])).map((e: { endpoint: string }) => e.endpoint)).toEqual(['penguins']);
  });

  it('serve answers predictions, follows a canary deployed from another process, and stops on SIGINT', async () => {
    serve = await startServe(['--port', String(servePort)], dir);
    const url = `http://127.0.0.1:${servePort}/v1/endpoints/penguins`;
    expect(serve.output()).toMatch(/penguins\s+1\s+v1 100%/);
    expect(serve.output()).toContain(`Serving on http://127.0.0.1:${servePort}  (Ctrl-C to stop)`);
    const first = await predict(url, 'user-1');
    expect(SPECIES).toContain(first.predictions[0]!.label);
    expect(first).toMatchObject({ version: 1, revision: 1, role: 'primary' });

    const canary = await cairn(
      ['deploy', 'penguins', '2', '--strategy', 'canary', '--percent', '30', '--reason', 'try seed 7'],
      dir,
    );
    expect(canary.code, canary.stderr).toBe(0);
    expect(canary.stdout).toMatch(/^penguins revision 2 \(deploy\): v1 70% · v2 30% canary/);
    // The stack has an A/B engine: the canary gets the experiment that judges it.
    expect(canary.stdout).toMatch(/Canary experiment penguins-canary-r2/);

    // The server follows the state folder: poll until every unit is answered by revision 2
    // (a server that never follows is caught by the suite's hang guard, not a speed bound).
    let roles: Array<{ role: string; version: number; revision: number }> = [];
    for (;;) {
      roles = await Promise.all(Array.from({ length: 40 }, (_, i) => predict(url, `unit-${i}`)));
      if (roles.every((r) => r.revision === 2)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(roles.every((r) => r.revision === 2)).toBe(true);
    const canaries = roles.filter((r) => r.role === 'canary');
    expect(canaries.length).toBeGreaterThan(0);
    expect(canaries.length).toBeLessThan(40);
    expect(canaries.every((r) => r.version === 2)).toBe(true);
    // The same unit stays on its version.
    const again = await predict(url, 'unit-0');
    expect(again.role).toBe(roles[0]!.role);
    // The server records which arm answered each unit, and takes their outcomes.
    const outcome = await fetch(`${url}/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ unitId: 'unit-0', value: 1, eventId: 'outcome-unit-0' }),
    });
    expect(outcome.status, await outcome.clone().text()).toBe(202);
    expect(await outcome.json()).toMatchObject({ experiment: 'penguins-canary-r2', metric: 'success' });
    await expect
      .poll(
        async () => {
          const shown = await json(['experiments', 'show', 'penguins-canary-r2']);
          return (shown.exposures.v1 ?? 0) + (shown.exposures.v2 ?? 0);
        },
        { timeout: 900_000 },
      )
      .toBe(40);
    await expect
      .poll(() => serve!.output(), { timeout: 900_000 })
      .toMatch(/penguins revision 2 \(deploy\): v1 70% · v2 30% canary/);

    serve.child.kill('SIGINT');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).toMatch(/SIGINT: stopping/);
    expect(await portIsFree(servePort)).toBe(true);
  });

  it('serve answers /metrics and writes its sampled predictions out on SIGTERM', async () => {
    const configFile = join(dir, 'cairn.config.ts');
    const config = readFileSync(configFile, 'utf8');
    // Batches larger than the traffic and no timer flush: every logged row is still in memory at SIGTERM.
    writeFileSync(
      configFile,
      config.replace(
        /localDeployer\(\{ port: (\d+) \}\)/,
        'localDeployer({ port: $1, predictionLog: { batchRows: 100000, flushIntervalMs: 3600000 } })',
      ),
    );
    try {
      serve = await startServe(['--port', String(servePort)], dir);
      expect(serve.output()).toContain(`Metrics at http://127.0.0.1:${servePort}/metrics`);
      const url = `http://127.0.0.1:${servePort}/v1/endpoints/penguins`;
      const answers: Array<Awaited<ReturnType<typeof predict>>> = [];
      for (let i = 0; i < 12; i++) answers.push(await predict(url, `metrics-user-${i}`));
      const metrics = await fetch(`http://127.0.0.1:${servePort}/metrics`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      const served = (role: string) =>
        answers.filter((a) => a.role === role).length === 0
          ? undefined
          : Number(
              new RegExp(
                `^cairn_serving_requests_total\\{endpoint="penguins",model="penguins",version="\\d+",role="${role}"\\} (\\d+)$`,
                'm',
              ).exec(text)?.[1],
            );
      expect(served('primary')).toBe(answers.filter((a) => a.role === 'primary').length);
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);

      const log = join(dir, '.cairn', 'deploy', 'deployments', 'prediction-log', 'penguins.jsonl');
      expect(() => readFileSync(log)).toThrow(/ENOENT/);
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
      expect(serve.output()).toMatch(/SIGTERM: stopping/);
      const batches = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(batches.reduce((sum, batch) => sum + batch.rows, 0)).toBe(12);
      // Each batch is a blob in the project's storage, like an artifact.
      const storage = localStore({ dir: join(dir, '.cairn', 'artifacts') });
      const units: string[] = [];
      for (const batch of batches) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of await storage.get(batch.digest)) chunks.push(chunk);
        for (const line of Buffer.concat(chunks).toString('utf8').trim().split('\n')) {
          units.push(JSON.parse(line).unitId);
        }
      }
      expect(units).toEqual(answers.map((_, i) => `metrics-user-${i}`));
    } finally {
      writeFileSync(configFile, config);
    }
  });

  it('endpoints lists, shows and traces the revisions; rollback restores the previous routes', async () => {
    const list = await cairn(['endpoints'], dir);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ENDPOINT\s+REVISION\s+ROUTES\s+UPDATED\s+URL/);
    expect(list.stdout).toMatch(/penguins\s+2\s+v1 70% · v2 30% canary/);

    const show = await json(['endpoints', 'show', 'penguins']);
    expect(show).toMatchObject({ endpoint: 'penguins', revision: 2 });
    expect(show.health.routes.map((r: any) => [r.model.version, r.role, r.ready])).toEqual([
      [1, 'primary', true],
      [2, 'canary', true],
    ]);

    const history = await cairn(['endpoints', 'history', 'penguins'], dir);
    expect(history.code, history.stderr).toBe(0);
    const rows = history.stdout.trim().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/^1\s+deploy\s+v1 100%/);
    expect(rows[2]).toMatch(/^2\s+deploy\s+v1 70% · v2 30% canary\s+try seed 7\s+\d{4}-\d\d-\d\d /);

    const rollback = await cairn(['endpoints', 'rollback', 'penguins', '--reason', 'v2 too slow'], dir);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toMatch(/^penguins revision 3 \(rollback\): v1 100%/);
    const after = await json(['endpoints', 'history', 'penguins']);
    expect(after.map((d: any) => [d.revision, d.change, d.reason])).toEqual([
      [1, 'deploy', expect.any(String)],
      [2, 'deploy', 'try seed 7'],
      [3, 'rollback', 'v2 too slow'],
    ]);
  });

  it('endpoints traffic sets a split; a malformed pair or a bad sum exits 2 and changes nothing', async () => {
    const canary = await cairn(['deploy', 'penguins', '2', '--strategy', 'canary', '--percent', '10'], dir);
    expect(canary.code, canary.stderr).toBe(0);
    const stateFile = join(dir, '.cairn', 'deploy', 'deployments', 'penguins.json');
    const before = readFileSync(stateFile, 'utf8');
    for (const [pairs, message] of [
      [['1=90', '2=ten'], /Malformed traffic pair "2=ten"/],
      [['1=90', '=10'], /Malformed traffic pair "=10"/],
      [['1=90', '2=20'], /sum to 110/],
    ] as const) {
      const result = await cairn(['endpoints', 'traffic', 'penguins', ...pairs], dir);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(readFileSync(stateFile, 'utf8')).toBe(before);

    const split = await json(['endpoints', 'traffic', 'penguins', '1=60', '2=40', '--reason', 'widen']);
    expect(split).toMatchObject({ revision: 5, change: 'traffic', reason: 'widen' });
    expect(split.routes.map((r: any) => [r.model.version, r.role, r.weight])).toEqual([
      [1, 'primary', 60],
      [2, 'canary', 40],
    ]);
    const promote = await cairn(['endpoints', 'promote', 'penguins', '--reason', 'v2 holds'], dir);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout).toMatch(/^penguins revision 6 \(promote\): v2 100%/);
    const missing = await cairn(['endpoints', 'show', 'nope'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No endpoint "nope" is deployed/);
  });

  it('endpoints remove takes a stopped load test’s leftover, and refuses what a typo must not remove', async () => {
    const names = async () => (await json(['endpoints'])).map((e: { endpoint: string }) => e.endpoint).sort();
    const stateFile = join(dir, '.cairn', 'deploy', 'deployments', 'penguins.json');
    const before = readFileSync(stateFile, 'utf8');
    const flat = (text: string) => text.replace(/\s+›?\s*/g, ' ');

    const unknown = await cairn(['endpoints', 'remove', 'nope'], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/CAIRN_DEPLOYMENT_NOT_FOUND/);
    expect(unknown.stderr).toMatch(/No endpoint "nope" is deployed/);

    // An endpoint that may serve traffic needs --yes; nothing changes without it.
    const serving = await cairn(['endpoints', 'remove', 'penguins'], dir);
    expect(serving.code).toBe(2);
    expect(serving.stderr).toMatch(/CAIRN_USAGE/);
    expect(flat(serving.stderr)).toMatch(
      /endpoint "penguins" may be serving traffic \(revision \d+: v2 100%\)/,
    );
    expect(flat(serving.stderr)).toMatch(/Pass --yes/);
    expect(readFileSync(stateFile, 'utf8')).toBe(before);

    // A staging endpoint as a load test leaves it: its deploy reason names the process holding it.
    const holder = (pid: number, host = hostname()) =>
      `load test of penguins v2 (load test pid ${pid} on ${host})`;
    // (A deploy of the version an endpoint already serves alone is a no-op: the version alternates.)
    const stage = async (reason: string, version = '2') => {
      const deployed = await cairn(
        ['deploy', 'penguins', version, '--endpoint', 'penguins-loadtest', '--reason', reason],
        dir,
      );
      expect(deployed.code, deployed.stderr).toBe(0);
    };
    // Held by a load test still running here (this process): refused, --yes or not.
    await stage(holder(process.pid));
    for (const args of [[], ['--yes']]) {
      const live = await cairn(['endpoints', 'remove', 'penguins-loadtest', ...args], dir);
      expect(live.code).toBe(2);
      expect(live.stderr).toMatch(/CAIRN_DEPLOY_INVALID/);
      expect(flat(live.stderr)).toMatch(
        new RegExp(`staging endpoint of a load test still running \\(pid ${process.pid} on `),
      );
    }
    expect(await names()).toEqual(['penguins', 'penguins-loadtest']);
    // Held by one on another host, which this machine cannot see: only with --yes.
    await stage(holder(4242, 'elsewhere.example'), '1');
    const remote = await cairn(['endpoints', 'remove', 'penguins-loadtest'], dir);
    expect(remote.code).toBe(2);
    expect(flat(remote.stderr)).toMatch(
      /held by a load test on another host \(pid 4242 on elsewhere.example\)/,
    );
    expect(await names()).toEqual(['penguins', 'penguins-loadtest']);
    const forced = await json(['endpoints', 'remove', 'penguins-loadtest', '--yes']);
    expect(forced).toMatchObject({ endpoint: 'penguins-loadtest', removed: true });
    expect(await names()).toEqual(['penguins']);
    // Left by a load test that stopped (its process is gone): removed without asking.
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    await stage(holder(gone));
    const leftover = await cairn(['endpoints', 'remove', 'penguins-loadtest'], dir);
    expect(leftover.code, leftover.stderr).toBe(0);
    expect(leftover.stdout).toMatch(
      /^Removed penguins-loadtest: it was at revision \d+ \(penguins v2 100%\); its revisions are forgotten\.$/m,
    );
    expect(await names()).toEqual(['penguins']);
    const history = await cairn(['endpoints', 'history', 'penguins-loadtest'], dir);
    expect(history.code).toBe(2);
    expect(readFileSync(stateFile, 'utf8')).toBe(before);

    // Any other endpoint goes with --yes, its history with it.
    const extra = await cairn(['deploy', 'penguins', '1', '--endpoint', 'penguins-extra'], dir);
    expect(extra.code, extra.stderr).toBe(0);
    const removed = await cairn(['endpoints', 'remove', 'penguins-extra', '--yes'], dir);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await names()).toEqual(['penguins']);
    expect((await cairn(['endpoints', 'show', 'penguins-extra'], dir)).code).toBe(2);
  });

  it('experiments shows the engine’s own analysis and concludes', async () => {
    const engine = await localAbtest().create({ stateDir: join(dir, '.cairn') });
    try {
      await engine.createExperiment({
        name: 'ranker-v4',
        variants: [
          { name: 'control', weight: 50 },
          { name: 'v4', weight: 50 },
        ],
        primaryMetric: { name: 'clicked', type: 'binomial', goal: 'increase' },
        guardrailMetrics: [{ name: 'latency-ms', type: 'continuous', goal: 'decrease' }],
        minimumSampleSize: 20,
      });
      for (let i = 0; i < 300; i++) {
        const unit = `u${i}`;
        const { variant } = await engine.assign('ranker-v4', unit);
        await engine.recordExposure('ranker-v4', unit);
        const rate = variant === 'v4' ? 0.5 : 0.2;
        await engine.recordOutcome('ranker-v4', unit, 'clicked', ((i * 7919) % 100) / 100 < rate ? 1 : 0);
        await engine.recordOutcome('ranker-v4', unit, 'latency-ms', 100 + (i % 13));
      }
      const expected = await engine.analyze('ranker-v4');

      const list = await cairn(['experiments'], dir);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(
        /ranker-v4\s+running\s+control 50% · v4 50%\s+clicked \(binomial, increase\)/,
      );

      const shown = await json(['experiments', 'show', 'ranker-v4']);
      const { analyzedAt: _a, ...rest } = shown;
      const { analyzedAt: _b, ...want } = expected;
      expect(rest).toEqual(JSON.parse(JSON.stringify(want)));
      expect(expected.decision.action).toBe('ship');

      const text = await cairn(['experiments', 'show', 'ranker-v4'], dir);
      expect(text.code, text.stderr).toBe(0);
      const exposed = expected.exposures;
      expect(text.stdout).toContain(
        `Exposures: control ${exposed.control} (expected 150.0) · v4 ${exposed.v4} (expected 150.0)`,
      );
      expect(text.stdout).toMatch(/Sample ratio: p = 0\.\d{4} \(ok\)/);
      const v4 = expected.primary.comparisons[0]!;
      expect(text.stdout).toMatch(
        new RegExp(
          `^v4\\s+\\+${v4.difference.toFixed(4)}\\s+\\S+\\s+\\[\\+${v4.confidenceInterval[0].toFixed(4)}, \\+${v4.confidenceInterval[1].toFixed(4)}\\]\\s+\\S+\\s+\\S+\\s+${v4.probabilityToBeBetter.toFixed(3)}\\s+better$`,
          'm',
        ),
      );
      expect(text.stdout).toContain('Guardrail: latency-ms');
      expect(text.stdout).toContain(`Decision: ship v4\n  ${expected.decision.reason}`);

      const wrong = await cairn(
        ['experiments', 'conclude', 'ranker-v4', '--winner', 'v9', '--reason', 'x'],
        dir,
      );
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/CAIRN_EXPERIMENT_INVALID/);
      expect((await engine.getExperiment('ranker-v4'))!.status).toBe('running');
      const done = await cairn(
        ['experiments', 'conclude', 'ranker-v4', '--winner', 'v4', '--reason', 'clear win'],
        dir,
      );
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toMatch(/ranker-v4 concluded: winner v4 \(clear win\)/);
      expect(await engine.getExperiment('ranker-v4')).toMatchObject({
        status: 'concluded',
        winner: 'v4',
        reason: 'clear win',
      });
      expect((await engine.assign('ranker-v4', 'u1')).variant).toBe('v4');
      const missing = await cairn(['experiments', 'show', 'nope'], dir);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/No experiment "nope"/);
    } finally {
      await engine.close();
    }
  });

  it('without a deployer or an A/B engine in the stack, the commands exit 2 naming the plugin to add', async () => {
    const bare = join(cwd, 'bare');
    await mkdir(bare);
    await writeFile(join(bare, 'package.json'), '{ "name": "bare", "type": "module" }\n');
    await writeFile(join(bare, 'cairn.config.ts'), 'export default { stack: {} };\n');
    for (const args of [['deploy', 'penguins'], ['serve'], ['endpoints']]) {
      const result = await cairn(args, bare);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/has no deployer/);
      expect(result.stderr).toMatch(/cairn add deploy-local/);
    }
    const experiments = await cairn(['experiments'], bare);
    expect(experiments.code).toBe(2);
    expect(experiments.stderr).toMatch(/cairn add abtest-local/);
  });
});
