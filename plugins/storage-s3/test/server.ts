import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
// Relative, not '@cairn/testkit/ports': vitest loads globalSetup files without the
// @cairn/source condition, so a package import would need testkit built first.
import { freePort } from '../../../packages/testkit/src/ports';

/**
 * Starts a real S3-compatible server — Ceph radosgw on a throwaway
 * single-node cluster (scripts/servers/radosgw.sh) — on 127.0.0.1 for the
 * whole run, creates the test bucket, and stops it all afterwards. Missing
 * binaries fail the run: nothing is skipped.
 */
const script = fileURLToPath(new URL('../../../scripts/servers/radosgw.sh', import.meta.url));
const run = promisify(execFile);
// The pinned SDK warns once per process that later releases need Node 22; tests know.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** What the tests need to reach the server. */
export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** The cluster folder, for `radosgw.sh stop-gateway|start-gateway <dir>`. */
  dir: string;
  script: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3TestServer;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = `/tmp/cairn-rgw-${process.pid}-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  let stdout: string;
  try {
    // The watchdog stops the cluster if this process dies without running teardown.
    ({ stdout } = await run('bash', [script, 'start', dir, String(port)], {
      timeout: 120_000,
      env: { ...process.env, RADOSGW_OWNER_PID: String(process.pid) },
    }));
  } catch (error) {
    await run('bash', [script, 'stop', dir]).catch(() => {});
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `Could not start the test S3 server (radosgw) with ${script}:\n${stderr || String(error)}\n` +
        'Install it with: scripts/servers/radosgw.sh install (apt-get install ceph-mon ceph-osd radosgw)',
    );
  }
  const values = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const value = (name: string): string => {
    const found = values[name];
    if (!found) throw new Error(`${script} start printed no ${name}:\n${stdout}`);
    return found;
  };
  const server: S3TestServer = {
    endpoint: value('S3_ENDPOINT'),
    region: value('S3_REGION'),
    accessKeyId: value('AWS_ACCESS_KEY_ID'),
    secretAccessKey: value('AWS_SECRET_ACCESS_KEY'),
    bucket: 'cairn-test',
    dir,
    script,
  };
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: server.bucket }));
  client.destroy();
  project.provide('s3', server);
  return async () => {
    await run('bash', [script, 'stop', dir]);
  };
}
