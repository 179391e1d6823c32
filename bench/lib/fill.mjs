/**
 * Fill a SQLite metadata store through its public API: `runs` runs of one
 * pipeline, each a chain of `perRun` executions (execution i reads the
 * output of i − 1), every one with its cache entry and lineage edges.
 */
import { createHash } from 'node:crypto';
import { sqliteMetadata } from '@cairn/metadata-sqlite';

const digestOf = (text) => createHash('sha256').update(text).digest('hex');

export async function fillMetadata(file, { runs, perRun }) {
  const metadata = sqliteMetadata({ file });
  await metadata.init?.();
  const base = Date.UTC(2026, 0, 1);
  const sample = { cacheKeys: [], digests: [], runIds: [] };
  let n = 0;
  for (let r = 0; r < runs; r++) {
    const runId = `r_${String(r).padStart(8, '0')}`;
    const at = new Date(base + r * 60_000).toISOString();
    await metadata.createRun({
      id: runId,
      pipeline: r % 2 === 0 ? 'training' : 'scoring',
      env: 'local',
      status: 'running',
      startedAt: at,
      versions: { node: process.versions.node },
      configs: {},
    });
    let previous;
    for (let i = 0; i < perRun; i++) {
      const digest = digestOf(`${r}:${i}`);
      const output = { digest, type: 'json', size: 64 };
      const cacheKey = digestOf(`key:${r}:${i}`);
      const executionId = `e_${String(n).padStart(10, '0')}`;
      await metadata.recordExecution(
        {
          id: executionId,
          runId,
          step: `step${i}`,
          status: 'succeeded',
          cacheKey,
          cacheable: true,
          inputs: previous ? { in: previous } : {},
          outputs: { out: output },
          startedAt: at,
          finishedAt: at,
          durationMs: 1,
          attempts: 1,
        },
        [{ ...output, createdAt: at, producer: { runId, step: `step${i}`, output: 'out', executionId } }],
      );
      if (r % 97 === 0 && i % 10 === 0) {
        sample.cacheKeys.push(cacheKey);
        sample.digests.push(digest);
      }
      previous = output;
      n++;
    }
    await metadata.updateRun(runId, {
      status: 'succeeded',
      finishedAt: at,
      counts: { executed: perRun, cached: 0, failed: 0, skipped: 0 },
    });
    if (r % 97 === 0) sample.runIds.push(runId);
  }
  await metadata.close?.();
  return { executions: n, sample };
}
