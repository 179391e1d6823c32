/**
 * `testExecutor` — the conformance suite for executor plugins. It drives real
 * pipelines through `runPipeline` with the executor under test, over a local
 * store in a temporary folder, and checks what every executor must do.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent, ExecutorDescriptor, StorageDriver } from '@cairn/core';
import { inProcess, localStore, type RunOptions, runPipeline } from '@cairn/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, failing, fan, hang } from './fixtures/executor-pipelines';
import { memoryMetadata } from './memory/metadata';

export interface TestExecutorOptions {
  /** Suite title. @default the executor's name */
  name?: string;
  /** A fresh executor descriptor (the factory's result). */
  create(): ExecutorDescriptor | Promise<ExecutorDescriptor>;
  /** Storage the executor's workers can reach. @default a local store in a temp folder */
  storage?(): StorageDriver | Promise<StorageDriver>;
  /** Seconds an aborted step may take to stop. @default 10 */
  abortWithinSeconds?: number;
}

export function testExecutor(options: TestExecutorOptions): void {
  describe(`executor conformance: ${options.name ?? 'executor'}`, () => {
    let dir: string;
    let storage: StorageDriver;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cairn-testkit-exec-'));
      storage = options.storage ? await options.storage() : localStore({ dir: join(dir, 'artifacts') });
    });
    afterAll(async () => {
      await storage.close?.();
      await rm(dir, { recursive: true, force: true });
    });

    const run = async (pipeline: Parameters<typeof runPipeline>[0], extra: Partial<RunOptions> = {}) => {
      const events: CairnEvent[] = [];
      const result = await runPipeline(pipeline, {
        storage,
        metadata: memoryMetadata(),
        projectDir: dir,
        executor: await options.create(),
        noCache: true,
        onEvent: (e) => events.push(e),
        ...extra,
      });
      return { result, events };
    };

    it('runs a chain of steps and produces the same artifacts as in-process execution', async () => {
      const { result, events } = await run(chain, { configs: { start: { n: 5 } } });
      expect(result.status).toBe('succeeded');
      expect(result.counts.executed).toBe(3);
      const reference = await runPipeline(chain, {
        storage,
        metadata: memoryMetadata(),
        projectDir: dir,
        executor: inProcess(),
        noCache: true,
        configs: { start: { n: 5 } },
      });
      for (const step of ['start', 'double', 'summary']) {
        expect(result.steps[step]!.outputs).toEqual(reference.steps[step]!.outputs);
      }
      for (const ref of Object.values(result.steps.summary!.outputs))
        expect(await storage.verify(ref.digest)).toBe('ok');
      const log = events.find((e) => e.type === 'step.log');
      expect(log).toMatchObject({ step: 'start', level: 'info', message: 'starting', fields: { n: 5 } });
    });

    it('never runs more steps at once than its concurrency', async () => {
      const descriptor = await options.create();
      const { result } = await run(fan, {
        executor: descriptor,
        configs: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`stamp-${i}`, { ms: 60 }])),
        concurrency: 2,
      });
      expect(result.status).toBe('succeeded');
      const spans: Array<{ start: number; end: number }> = [];
      for (const outcome of Object.values(result.steps)) {
        const chunks: Buffer[] = [];
        for await (const chunk of await storage.get(outcome.outputs.span!.digest))
          chunks.push(Buffer.from(chunk));
        spans.push(JSON.parse(Buffer.concat(chunks).toString()));
      }
      // The most spans open at one instant (a sweep over start/end points; an end at the same
      // millisecond as a start closes first). Pairwise overlap would overcount: one late span can
      // overlap two back-to-back ones without three ever running together.
      const points = spans.flatMap((span) => [
        { at: span.start, delta: 1 },
        { at: span.end, delta: -1 },
      ]);
      points.sort((a, b) => a.at - b.at || a.delta - b.delta);
      let open = 0;
      let most = 0;
      for (const point of points) {
        open += point.delta;
        most = Math.max(most, open);
      }
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
    });

    it('carries step errors back with their code and message', async () => {
      const { result } = await run(failing);
      expect(result.status).toBe('failed');
      expect(result.steps.fails!.error).toMatchObject({ code: 'CAIRN_DATA_INVALID' });
      expect(result.steps.fails!.error!.message).toContain('bill_length_mm');
      expect(result.steps.throws!.error).toMatchObject({ code: 'CAIRN_STEP_FAILED' });
      expect(result.steps.throws!.error!.message).toContain('plain failure');
      expect(result.steps['bad-outputs']!.error).toMatchObject({ code: 'CAIRN_STEP_OUTPUT_INVALID' });
    });

    it('delivers abort to a running step and ends the run cancelled', async () => {
      const controller = new AbortController();
      const startedAt = Date.now();
      const { result } = await run(hang, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'step.started') setTimeout(() => controller.abort(), 50);
        },
      });
      expect(result.status).toBe('cancelled');
      expect(result.steps.wait!.status).toBe('cancelled');
      expect(Date.now() - startedAt).toBeLessThan((options.abortWithinSeconds ?? 10) * 1000);
    });
  });
}
