/**
 * Child process of the scale benchmark: one cold run of the N-step DAG
 * through Cairn (in-process, SQLite metadata, local store), then its peak
 * resident memory on stdout as JSON. Run as a separate process so nothing
 * else the benchmark did counts towards the peak.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCairn } from '../orchestration.mjs';
import { removeDir, tempDir } from './common.mjs';
import { dagConfigs, dagModule } from './dag.mjs';

const size = Number(process.argv[2] ?? 10000);
const dir = await tempDir('memory');
try {
  const { dag } = await import(pathToFileURL(await dagModule(dir, size)).href);
  const run = await runCairn(dag, join(dir, 'project'), dagConfigs(size), {
    executor: 'in-process',
    concurrency: 1,
  });
  if (run.started.size !== size) throw new Error(`expected ${size} steps to run, ${run.started.size} did`);
  // maxRSS is in kilobytes.
  process.stdout.write(
    `${JSON.stringify({ size, ms: run.ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
  );
} finally {
  await removeDir(dir);
}
