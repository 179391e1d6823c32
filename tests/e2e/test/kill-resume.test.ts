import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CairnEvent } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore } from '@cairn/runtime';
import { afterEach, beforeEach, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/chain.ts', import.meta.url));
let project: string;

beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

/** Run the chain in a child process; optionally SIGKILL it after `killAfter` steps succeeded. */
function runChild(
  delayMs: number,
  killAfter?: number,
  executor = 'in-process',
): Promise<{ events: CairnEvent[]; signal: NodeJS.Signals | null; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@cairn/source', '--import', 'tsx', fixture, project, String(delayMs), executor],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const events: CairnEvent[] = [];
    let succeeded = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as CairnEvent;
      events.push(event);
      if (event.type === 'step.succeeded' && ++succeeded === killAfter) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ events, code, signal }));
  });
}

const stepsWith = (events: CairnEvent[], type: CairnEvent['type']) =>
  events.filter((e) => e.type === type).map((e) => (e as { step: string }).step);

it('a run killed with SIGKILL resumes without re-executing finished steps, and every artifact verifies', async () => {
  const killed = await runChild(300, 3);
  expect(killed.signal).toBe('SIGKILL');
  const finishedBeforeKill = stepsWith(killed.events, 'step.succeeded');
  expect(finishedBeforeKill).toEqual(['first', 'link-1', 'link-2']);
  expect(killed.events.some((e) => e.type === 'run.finished')).toBe(false);

  const resumed = await runChild(300);
  expect(resumed.code).toBe(0);
  expect(stepsWith(resumed.events, 'step.cached')).toEqual(['first', 'link-1', 'link-2']);
  // link-3 may have finished between the third event and the kill; whatever ran again is after that
  const executed = stepsWith(resumed.events, 'step.succeeded');
  expect(executed.every((s) => ['link-3', 'link-4', 'link-5'].includes(s))).toBe(true);
  expect(executed.length).toBeGreaterThanOrEqual(2);
  expect(resumed.events.at(-1)).toMatchObject({ type: 'run.finished', status: 'succeeded' });

  const storage = localStore({ dir: join(project, '.cairn', 'artifacts') });
  const metadata = sqliteMetadata({ file: join(project, '.cairn', 'metadata.db') });
  try {
    const runs = await metadata.listRuns({ pipeline: 'chain' });
    expect(runs).toHaveLength(2);
    const [latest, abandoned] = runs;
    expect(latest!.status).toBe('succeeded');
    // the killed run is not left "running" forever: the next run marks it
    expect(abandoned!.status).toBe('failed');
    expect(abandoned!.error).toMatch(/abandoned/);
    for await (const object of storage.list()) expect(await storage.verify(object.digest)).toBe('ok');
    const executions = await metadata.listExecutions(latest!.id);
    expect(executions.map((e) => e.status).filter((s) => s !== 'cached' && s !== 'succeeded')).toEqual([]);
    const last = executions.find((e) => e.step === 'link-5')!;
    const lineage = await metadata.lineage({ digest: last.outputs.next!.digest }, { direction: 'up' });
    expect(lineage.executions.length).toBeGreaterThanOrEqual(6);
  } finally {
    await metadata.close?.();
  }
});

it("a second process sees the first one's cache (worker threads in a plain process)", async () => {
  // A plain `node` process, unlike a test runner, exits when nothing keeps it alive:
  // busy worker threads must, or the run stops half way.
  const first = await runChild(1, undefined, 'pool');
  expect(first.code).toBe(0);
  expect(stepsWith(first.events, 'step.succeeded')).toHaveLength(6);
  const second = await runChild(1, undefined, 'pool');
  expect(stepsWith(second.events, 'step.succeeded')).toEqual([]);
  expect(stepsWith(second.events, 'step.cached')).toHaveLength(6);
});
