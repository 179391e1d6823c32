import { type ChildProcess, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairn, DEV_ENTRY, tempDir } from './helpers';

const REPO_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

/** `cairn ui` as a background child: resolves with its URL once it prints it. */
function startUi(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [DEV_ENTRY, 'ui', '--port', '0', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cairn ui did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Cairn dashboard on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`cairn ui exited with ${code}:\n${output}`));
    });
  });
  return { child, url, exited, output: () => output };
}

// A small project of its own (the workspace's node_modules linked in), run once for real.
describe('cairn ui', () => {
  let dir: string;
  let runId: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = join(await tempDir('ui'), 'ui-proj');
    await mkdir(join(dir, 'pipelines'), { recursive: true });
    symlinkSync(REPO_NODE_MODULES, join(dir, 'node_modules'), 'dir');
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'ui-proj', private: true, type: 'module' }),
    );
    await writeFile(join(dir, 'cairn.config.ts'), 'export default {};\n');
    await writeFile(
      join(dir, 'pipelines', 'numbers.ts'),
      [
        "import { json, metrics, pipeline, step } from '@cairn/core';",
        "const source = step({ name: 'source', outputs: { numbers: json<number[]>() }, run: () => ({ numbers: [1, 2, 3] }) });",
        "const total = step({ name: 'total', inputs: { values: json<number[]>() }, outputs: { summary: metrics() }, run: ({ inputs }) => ({ summary: { sum: inputs.values.reduce((a, b) => a + b, 0) } }) });",
        "export const numbers = pipeline('numbers', () => { const { numbers } = source(); total({ values: numbers }); });",
        '',
      ].join('\n'),
    );
    const run = await cairn(['run', '--json'], dir);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    runId = JSON.parse(run.stdout.split('\n')[0]!).runId;
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('serves the runs and a run of the project, answers bad input with a coded 4xx, and stops on SIGINT', async () => {
    const ui = startUi([], dir);
    children.push(ui.child);
    const url = await ui.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ui.output()).toContain('read-only');

    const runs = await (await fetch(`${url}/runs`)).text();
    expect(runs).toContain(runId);
    expect(runs).toContain('ui-proj');
    const run = await fetch(`${url}/runs/${runId}`);
    expect(run.status).toBe(200);
    const html = await run.text();
    expect(html).toMatch(/data-step="source"/);
    expect(html).toMatch(/data-step="total"/);
    expect(html).toContain('total.summary.sum');

    const unknown = await fetch(`${url}/runs/r_0000000000000`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('CAIRN_METADATA_NOT_FOUND');
    const promote = await fetch(`${url}/models/x/versions/1/stage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'stage=production&reason=r',
    });
    expect(promote.status).toBe(403);

    // A second dashboard on the same port is told so, with exit 2.
    const busy = await cairn(['ui', '--port', new URL(url).port], dir);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/is in use/);

    ui.child.kill('SIGINT');
    expect(await ui.exited).toBe(0);
    expect(ui.output()).toContain('SIGINT: stopping');
  });

  it('refuses a host other than loopback without a token, and requires the token with one', async () => {
    const refused = await cairn(['ui', '--host', '0.0.0.0', '--port', '0'], dir, { CAIRN_UI_TOKEN: '' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not loopback: the dashboard needs a token/);
    expect(refused.stderr).toMatch(/CAIRN_UI_TOKEN/);

    const token = 'token-for-the-cli-test-0123456789';
    const ui = startUi(['--host', '127.0.0.2', '--token-env', 'UI_TEST_TOKEN'], dir, {
      UI_TEST_TOKEN: token,
    });
    children.push(ui.child);
    const url = await ui.url;
    expect(url).toContain(`?token=${token}`);
    const base = url.replace(/\/\?token=.*$/, '');
    expect((await fetch(`${base}/runs`)).status).toBe(401);
    expect((await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    ui.child.kill('SIGTERM');
    expect(await ui.exited).toBe(0);
  });
});
