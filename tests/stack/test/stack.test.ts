import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CairnEvent } from '@cairn/core';
import { expect, inject, it } from 'vitest';
// Type-only: brings in the harnesses' `inject('s3')` / `inject('pgUrl')` declarations.
import type {} from '../../../plugins/metadata-postgres/test/global-setup';
import type {} from '../../../plugins/storage-s3/test/server';
import { teamStack } from './fixtures/pipeline';

const fixture = fileURLToPath(new URL('./fixtures/pipeline.ts', import.meta.url));

function environment(schema: string): NodeJS.ProcessEnv {
  const s3 = inject('s3');
  return {
    ...process.env,
    ARTIFACT_BUCKET: s3.bucket,
    ARTIFACT_PREFIX: `stack-${schema}`,
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    DATABASE_URL: inject('pgUrl'),
    CAIRN_SCHEMA: schema,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

function runProcess(
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; events: CairnEvent[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', fixture], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: CairnEvent[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, events, stderr }));
  });
}

const steps = (events: CairnEvent[], type: CairnEvent['type']) =>
  events
    .filter((e) => e.type === type)
    .map((e) => (e as { step: string }).step)
    .sort();

it('two processes on S3 + PostgreSQL + worker threads share cache and lineage', async () => {
  const env = environment(`stack_${process.pid}`);
  const first = await runProcess(env);
  expect(first.stderr).not.toMatch(/Error/);
  expect(first.code).toBe(0);
  expect(steps(first.events, 'step.succeeded')).toEqual(['generate', 'sort', 'summarize']);

  const second = await runProcess(env);
  expect(second.code).toBe(0);
  expect(steps(second.events, 'step.succeeded')).toEqual([]);
  expect(steps(second.events, 'step.cached')).toEqual(['generate', 'sort', 'summarize']);

  // What the second process reused is what the first one recorded, in PostgreSQL, with its bytes in S3.
  Object.assign(process.env, env);
  const { storage, metadata } = teamStack();
  try {
    const [latest, earlier] = await metadata.listRuns({ pipeline: 'stack' });
    expect(latest!.counts).toEqual({ executed: 0, cached: 3, failed: 0, skipped: 0 });
    expect(earlier!.counts).toEqual({ executed: 3, cached: 0, failed: 0, skipped: 0 });
    const reused = (await metadata.listExecutions(latest!.id)).find((e) => e.step === 'summarize')!;
    const original = (await metadata.listExecutions(earlier!.id)).find((e) => e.step === 'summarize')!;
    expect(reused.cachedFrom).toBe(original.id);
    const digest = reused.outputs.stats!.digest;
    expect((await metadata.getArtifact(digest))?.producer?.runId).toBe(earlier!.id);
    const lineage = await metadata.lineage({ digest }, { direction: 'up' });
    expect(lineage.executions.map((e) => e.step)).toEqual(
      expect.arrayContaining(['generate', 'sort', 'summarize']),
    );
    expect(await storage.verify(digest)).toBe('ok');
  } finally {
    await metadata.close?.();
    await storage.close?.();
  }
});
