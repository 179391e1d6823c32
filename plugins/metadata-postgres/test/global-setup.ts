import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
// Relative, not '@cairn/testkit/ports': vitest loads globalSetup files without the
// @cairn/source condition, so a package import would need testkit built first.
import { freePort } from '../../../packages/testkit/src/ports';

/**
 * Starts a real PostgreSQL on 127.0.0.1 for the whole suite (scripts/servers/postgres.sh)
 * and stops it afterwards. Missing binaries fail the run: nothing is skipped.
 */
const script = fileURLToPath(new URL('../../../scripts/servers/postgres.sh', import.meta.url));
const run = promisify(execFile);

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the test server, with its (public, fixed) test password. */
    pgUrl: string;
    /** Port of the test server. */
    pgPort: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = `/tmp/cairn-pg-${process.pid}-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  let url: string;
  try {
    url = (await run('bash', [script, 'start', dir, String(port)], { timeout: 600_000 })).stdout.trim();
  } catch (error) {
    await run('bash', [script, 'stop', dir]).catch(() => {});
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `Could not start the test PostgreSQL with ${script}:\n${stderr || String(error)}\n` +
        'Install it with: scripts/servers/postgres.sh install (apt-get install postgresql)',
    );
  }
  project.provide('pgUrl', url);
  project.provide('pgPort', port);
  return async () => {
    await run('bash', [script, 'stop', dir]);
  };
}
