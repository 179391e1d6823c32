import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CairnError } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findProjectRoot, loadProjectConfig } from './config-file';

const packagesDir = resolve(import.meta.dirname, '../../..');
let project: string;

beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'cairn-project-'));
  // The temp project resolves @cairn/core as an installed project would: through node_modules.
  await mkdir(join(project, 'node_modules', '@cairn'), { recursive: true });
  for (const name of ['core', 'runtime', 'testkit'])
    await symlink(join(packagesDir, name), join(project, 'node_modules', '@cairn', name), 'dir');
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    if (CairnError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a CairnError');
}

describe('loadProjectConfig', () => {
  it('imports cairn.config.ts that uses @cairn/core and returns its checked default export', async () => {
    await writeFile(
      join(project, 'cairn.config.ts'),
      [
        "import { defineConfig, type CairnConfig } from '@cairn/core';",
        "import { inProcess } from '@cairn/runtime';",
        "import { memoryStore } from '@cairn/testkit';",
        'const conf: CairnConfig["conf"] = "settings";',
        'export default defineConfig({',
        '  conf,',
        '  stack: { storage: memoryStore(), executor: inProcess() },',
        '  env: { ci: { executor: inProcess() } },',
        '});',
      ].join('\n'),
    );
    const { file, config } = await loadProjectConfig(project);
    expect(file).toBe(join(project, 'cairn.config.ts'));
    expect(config.conf).toBe('settings');
    expect(config.stack?.storage?.kind).toBe('storage');
    expect(Object.keys(config.env ?? {})).toEqual(['ci']);
  });

  it('loads cairn.config.mjs when there is no TypeScript config', async () => {
    await writeFile(join(project, 'cairn.config.mjs'), 'export default { pipelines: "flows" };\n');
    const { file, config } = await loadProjectConfig(project);
    expect(file.endsWith('cairn.config.mjs')).toBe(true);
    expect(config).toEqual({ pipelines: 'flows' });
  });

  it('reports a missing file with CAIRN_STACK_INVALID and a hint', async () => {
    const error = await failure(loadProjectConfig(project));
    expect(error.code).toBe('CAIRN_STACK_INVALID');
    expect(error.message).toContain(project);
    expect(error.hint).toContain('cairn new');
  });

  it('reports a module that throws, with the cause', async () => {
    await writeFile(
      join(project, 'cairn.config.ts'),
      'throw new Error("bucket option missing");\nexport default {};\n',
    );
    const error = await failure(loadProjectConfig(project));
    expect(error.code).toBe('CAIRN_STACK_INVALID');
    expect(error.message).toContain('cairn.config.ts failed to load: bucket option missing');
    expect(error.cause).toBeDefined();
  });

  it("keeps a plugin factory's CAIRN_PLUGIN_OPTIONS_INVALID, naming the file and the option", async () => {
    await writeFile(
      join(project, 'cairn.config.ts'),
      [
        "import { CairnError, ErrorCodes } from '@cairn/core';",
        'throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, \'localDeployer: option "maxRows" must be a positive integer, got 0\');',
        'export default {};',
      ].join('\n'),
    );
    const error = await failure(loadProjectConfig(project));
    expect(error.code).toBe('CAIRN_PLUGIN_OPTIONS_INVALID');
    expect(error.message).toContain('cairn.config.ts failed to load: localDeployer: option "maxRows"');
  });

  it('checks the default export as defineConfig does, naming the file', async () => {
    await writeFile(
      join(project, 'cairn.config.ts'),
      'export default { stak: {}, stack: { storage: 42 } };\n',
    );
    const error = await failure(loadProjectConfig(project));
    expect(error.code).toBe('CAIRN_STACK_INVALID');
    expect(error.message).toMatch(/^cairn\.config\.ts is invalid/);
    expect(error.issues.map((issue) => issue.message)).toEqual([
      'unknown key "stak"',
      'stack.storage: expected a storage plugin, got number',
    ]);
    expect(error.issues.every((issue) => issue.source === 'cairn.config.ts')).toBe(true);
  });

  it('refuses a config with no default export or a non-object one', async () => {
    await writeFile(join(project, 'cairn.config.ts'), 'export const config = {};\n');
    expect((await failure(loadProjectConfig(project))).message).toContain('has no default export');
    await writeFile(join(project, 'cairn.config.mjs'), 'export default () => ({});\n');
    await rm(join(project, 'cairn.config.ts'));
    expect((await failure(loadProjectConfig(project))).message).toContain(
      'must be a config object, got function',
    );
  });
});

describe('findProjectRoot', () => {
  it('walks up to the folder holding cairn.config.*', async () => {
    await writeFile(join(project, 'cairn.config.ts'), 'export default {};\n');
    const deep = join(project, 'steps', 'nested');
    await mkdir(deep, { recursive: true });
    expect(await findProjectRoot(deep)).toBe(project);
    expect(await findProjectRoot(project)).toBe(project);
  });

  it('returns undefined when no folder up to the root has one', async () => {
    const deep = join(project, 'a', 'b');
    await mkdir(deep, { recursive: true });
    expect(await findProjectRoot(deep)).toBeUndefined();
  });
});
