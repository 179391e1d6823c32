// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax under test, not a mistyped template.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metrics, pipeline, step } from '@cairn/core';
import { sqliteMetadata } from '@cairn/metadata-sqlite';
import { localStore, runPipeline } from '@cairn/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cairn, tempDir } from './helpers';

const REPO_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));
const SECRET = 'cli-logs-secret-value-42';

describe('cairn logs', () => {
  let project: string;
  let runId: string;

  beforeAll(async () => {
    project = await tempDir('logs');
    await symlink(REPO_NODE_MODULES, join(project, 'node_modules'));
    await writeFile(join(project, 'package.json'), '{ "name": "logs", "private": true, "type": "module" }\n');
    await writeFile(
      join(project, 'cairn.config.ts'),
      [
        "import { defineConfig } from '@cairn/core';",
        "import { sqliteMetadata } from '@cairn/metadata-sqlite';",
        "import { inProcess, localStore } from '@cairn/runtime';",
        'export default defineConfig({',
        "  stack: { storage: localStore({ dir: '.cairn/artifacts' }), metadata: sqliteMetadata({ file: '.cairn/metadata.db' }), executor: inProcess() },",
        '});',
        '',
      ].join('\n'),
    );
    const talk = step({
      name: 'talk',
      config: z.object({ key: z.string() }),
      outputs: { m: metrics() },
      run: ({ config, log }) => {
        log.info(`using key ${config.key}`);
        log.warn('second line');
        return { m: { ok: 1 } };
      },
    });
    const quiet = step({ name: 'quiet', outputs: { m: metrics() }, run: () => ({ m: { ok: 1 } }) });
    await mkdir(join(project, '.cairn'), { recursive: true });
    const metadata = sqliteMetadata({ file: join(project, '.cairn', 'metadata.db') });
    const result = await runPipeline(
      pipeline('talking', () => {
        talk();
        quiet();
      }),
      {
        storage: localStore({ dir: join(project, '.cairn', 'artifacts') }),
        metadata,
        projectDir: project,
        configs: { talk: { key: '${env:LOGS_KEY}' } },
        environment: { LOGS_KEY: SECRET },
      },
    );
    await metadata.close?.();
    expect(result.status).toBe('succeeded');
    runId = result.runId;
  }, 60_000);

  it("prints a step's kept lines with the secret as its reference", async () => {
    const out = await cairn(['logs', runId, '--step', 'talk'], project);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('── talk · succeeded');
    expect(out.stdout).toMatch(/info {2}using key \$\{env:LOGS_KEY\}/);
    expect(out.stdout).toMatch(/warn {2}second line/);
    expect(out.stdout).not.toContain(SECRET);
    expect(out.stdout).not.toContain('quiet');
    const all = await cairn(['logs', 'latest', '--json'], project);
    const parsed = JSON.parse(all.stdout) as {
      run: string;
      executions: Array<{ step: string; log: unknown }>;
    };
    expect(parsed.run).toBe(runId);
    expect(parsed.executions.map((e) => [e.step, e.log === null]).sort()).toEqual([
      ['quiet', true],
      ['talk', false],
    ]);
  }, 60_000);

  it('refuses an unknown step or a malformed run id with a coded error', async () => {
    const step = await cairn(['logs', runId, '--step', 'nope'], project);
    expect(step.code).not.toBe(0);
    expect(step.stderr).toContain('has no step "nope"');
    const bad = await cairn(['logs', '../etc'], project);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not a run id');
  }, 60_000);
});
