// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairn, DEV_ENTRY, TEMPLATE_TRAINING_STEPS, tempDir } from './helpers';

const REDIS_SCRIPT = fileURLToPath(new URL('../../../scripts/servers/redis.sh', import.meta.url));
const run = promisify(execFile);

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

/** `cairn worker` as a background child: resolves once it prints its "Worker on" line. */
function startWorker(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child: ChildProcess = spawn(process.execPath, [DEV_ENTRY, 'worker', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Worker on \S+ queue \S+, concurrency \d+ \(Ctrl-C to stop\)/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}:\n${output}`));
    });
  });
  return { child, ready, exited, output: () => output };
}

// A linked project whose `team` environment runs steps on a Redis queue, with a real redis-server.
describe('cairn worker on a project made with cairn new --link --plugins executor-bullmq', () => {
  let cwd: string;
  let dir: string;
  let redisDir: string;
  let redisUrl: string;
  let worker: ReturnType<typeof startWorker> | undefined;

  beforeAll(async () => {
    cwd = await tempDir('worker');
    redisDir = join(cwd, 'redis');
    redisUrl = (await run('bash', [REDIS_SCRIPT, 'start', redisDir, String(await freePort())])).stdout.trim();
    const made = await cairn(['new', 'team-proj', '--link', '--no-git', '--plugins', 'executor-bullmq'], cwd);
    expect(made.code, made.stderr).toBe(0);
    dir = join(cwd, 'team-proj');
    const configFile = join(dir, 'cairn.config.ts');
    const config = readFileSync(configFile, 'utf8');
    const generated = "bullmqExecutor({ connection: '${env:REDIS_URL}' })";
    expect(config).toContain(generated);
    // The workers run on this machine, so the project's local artifact folder is shared enough.
    writeFileSync(
      configFile,
      config.replace(
        generated,
        "bullmqExecutor({ connection: '${env:REDIS_URL}', allowLocalStorage: true })",
      ),
    );
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    await run('bash', [REDIS_SCRIPT, 'stop', redisDir]).catch(() => {});
    await rm(cwd, { recursive: true, force: true });
  });

  it('refuses an environment whose executor is not bullmq (exit 2, with a hint)', async () => {
    const result = await cairn(['worker'], dir, { REDIS_URL: redisUrl });
    expect(result.code).toBe(2);
    // oclif wraps the message to the terminal width: join its lines again.
    const message = result.stderr.replace(/\s*\n ›\s*/g, ' ');
    expect(message).toMatch(/"local" environment runs steps with the worker-pool executor, not bullmq/);
    expect(message).toMatch(/Try this: Give the environment bullmqExecutor/);
  });

  it('fails at once, naming host:port and not the password, when Redis does not answer', async () => {
    const port = await freePort();
    const result = await cairn(['worker', '--env', 'team'], dir, {
      REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${port}`,
    });
    expect(result.code).toBe(1);
    const message = result.stderr.replace(/\s*\n ›\s*/g, ' ');
    expect(message).toMatch(new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port}`));
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('runs the steps of `cairn run --env team`, one line per step, and stops on SIGINT with exit 0', async () => {
    worker = startWorker(['--env', 'team', '--concurrency', '2'], dir, { REDIS_URL: redisUrl });
    await worker.ready;
    const port = new URL(redisUrl).port;
    expect(worker.output()).toContain(
      `Worker on 127.0.0.1:${port} queue cairn, concurrency 2 (Ctrl-C to stop)`,
    );
    // The password of the URL is not printed.
    expect(worker.output()).not.toContain(new URL(redisUrl).password);

    const result = await cairn(['run', '--env', 'team'], dir, { REDIS_URL: redisUrl });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`${TEMPLATE_TRAINING_STEPS.length} executed, 0 cached, 0 failed, 0 skipped`),
    );
    // A log line of the train step, written on the worker, shown by the run.
    expect(result.stdout).toMatch(/train \| training accuracy \d\.\d{4}/);
    const runId = /run (r_\S+) succeeded/.exec(result.stdout)?.[1];
    expect(runId).toBeDefined();

    // Steps that hold the run's registry or deployer run in the coordinator; the rest ran on the worker.
    const lines = () =>
      worker!
        .output()
        .split('\n')
        .map((line) => /^(\S+) {2}run (\S+) {2}\S+ {2}(\S+)$/.exec(line))
        .filter((m) => m !== null);
    expect(
      lines()
        .map((m) => m[1])
        .sort(),
    ).toEqual(['evaluate', 'ingest', 'prepare', 'train', 'validate']);
    for (const m of lines()) {
      expect(m[2]).toBe(runId);
      expect(m[3]).toBe('succeeded');
    }

    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/SIGINT: stopping/);
  });

  // Last: it stops the suite's Redis.
  it('stops on SIGTERM with exit 0 while Redis is down', async () => {
    worker = startWorker(['--env', 'team'], dir, { REDIS_URL: redisUrl });
    await worker.ready;
    await run('bash', [REDIS_SCRIPT, 'stop', redisDir]);
    worker.child.kill('SIGTERM');
    // BullMQ's close waits for Redis to come back, and its timers kept the process alive after it.
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/SIGTERM: stopping/);
  });
});
