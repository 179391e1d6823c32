import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployerStateDir } from '@cairn/core';
import localDeployer from '@cairn/deploy-local';
import { runPipeline } from '@cairn/runtime';
import type { DriftReport } from '@cairn/tabular';
import { memoryMetadata, memoryStore } from '@cairn/testkit';
import { describe, expect, it } from 'vitest';
import config from '../cairn.config';
import { monitoring } from '../pipelines/monitoring';
import { training } from '../pipelines/training';
import type { ServedSource } from '../steps/current';
import { baseConfig, project, projectDir, runStep } from './helpers';

describe('the monitoring pipeline', () => {
  it('measures drift on the rows the model server answered, and on the live file when none were', async () => {
    const storage = memoryStore();
    const metadata = memoryMetadata();
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-monitoring-test-'));
    const loaders = config.serving!.loaders;
    const options = {
      storage,
      metadata,
      projectDir,
      tmpDir: `${projectDir}/.cairn/tmp`,
      deployer: config.stack!.deployer!,
      abtest: config.stack!.abtest!,
      loaders,
      stateDir,
    };
    const output = async <T>(result: Awaited<ReturnType<typeof runPipeline>>, step: string, name: string) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of await storage.get(result.steps[step]!.outputs[name]!.digest))
        chunks.push(chunk);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    };
    try {
      const trained = await runPipeline(training, options);
      expect(trained.status, JSON.stringify(trained.error)).toBe('succeeded');

      // Nothing served yet: the live data file is the current data.
      const before = await runPipeline(monitoring, options);
      expect(before.status, JSON.stringify(before.error)).toBe('succeeded');
      expect(await output<ServedSource>(before, 'current', 'source')).toMatchObject({
        source: 'file',
        served: 0,
      });

      // A model server with a prediction log, answering rows whose first measurement moved far.
      const { target, numeric } = project();
      const name = numeric[0];
      if (name === undefined) return expect(numeric).toEqual([]);
      const { ingest } = await import('../steps/ingest');
      const { data } = await runStep(ingest, baseConfig('ingest'));
      const rows = data.rows() as Array<Record<string, unknown>>;
      const values = rows.map((r) => r[name]).filter((v): v is number => typeof v === 'number');
      const spread = Math.max(...values) - Math.min(...values) || 1;
      const server = await localDeployer({
        port: 0,
        followIntervalMs: 50,
        predictionLog: { sample: 1, batchRows: 50 },
      }).create({ storage, loaders, stateDir: deployerStateDir(stateDir), mode: 'serve' });
      const endpoint = baseConfig('deploy').endpoint as string;
      let answered = 0;
      try {
        const url = (await server.status(endpoint))!.url!;
        for (const row of rows.slice(0, 120)) {
          const { [target]: _label, ...features } = row;
          const moved = {
            ...features,
            [name]: typeof row[name] === 'number' ? (row[name] as number) + 3 * spread : null,
          };
          const response = await fetch(`${url}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ rows: [moved] }),
          });
          // A moved value may fall outside what the model takes; what was answered is logged.
          if (response.status === 200) answered++;
          else expect(response.status).toBe(400);
        }
      } finally {
        await server.close(); // writes out what is still in memory
      }
      expect(answered).toBeGreaterThanOrEqual(baseConfig('current').minRows);

      const after = await runPipeline(monitoring, options);
      expect(after.status, JSON.stringify(after.error)).toBe('succeeded');
      const source = await output<ServedSource>(after, 'current', 'source');
      expect(source).toMatchObject({ source: 'served', served: answered, rows: answered, leftOut: [target] });
      const drift = await output<DriftReport>(after, 'drift', 'drift');
      expect(drift.drifted).toBe(true);
      expect(drift.driftedColumns).toContain(name);
      // The label is not served: it is compared on neither side, so it is not counted as missing.
      expect(drift.columns.map((c) => c.column)).not.toContain(target);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
