import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPipeline } from '../orchestrator/run';
import { openProject } from './open';

const repoModules = resolve(import.meta.dirname, '../../../../node_modules');
let project: string;

beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'cairn-open-'));
  // Resolves @cairn/* and zod as an installed project would (and as `cairn new --link` does).
  await symlink(repoModules, join(project, 'node_modules'), 'dir');
  await writeFile(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
  await writeFile(
    join(project, 'cairn.config.ts'),
    [
      "import { defineConfig } from '@cairn/core';",
      "import { localStore } from '@cairn/runtime';",
      // A relative path, as every generated project writes it.
      "export default defineConfig({ stack: { storage: localStore({ dir: '.cairn/artifacts' }) } });",
    ].join('\n'),
  );
  await mkdir(join(project, 'pipelines'));
  await writeFile(
    join(project, 'pipelines', 'count.ts'),
    [
      "import { json, pipeline, step } from '@cairn/core';",
      "const count = step({ name: 'count', outputs: { n: json<number>() }, run: () => ({ n: 3 }) });",
      "export const counting = pipeline('counting', () => { count(); });",
    ].join('\n'),
  );
  await mkdir(join(project, 'steps', 'deeper'), { recursive: true });
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

describe('openProject from a subfolder', () => {
  it('finds the root and keeps one store and one history there, whatever the current folder', async () => {
    const previous = process.cwd();
    process.chdir(join(project, 'steps', 'deeper'));
    try {
      for (const from of ['.', project]) {
        const opened = await openProject(from);
        try {
          expect(opened.projectDir).toBe(project);
          const result = await runPipeline(await opened.pipeline(), opened.runOptions());
          expect(result.status).toBe('succeeded');
        } finally {
          await opened.close();
        }
      }
      // Nothing was created beside the current folder; the second run reused the first one's work.
      expect(existsSync(join(project, 'steps', 'deeper', '.cairn'))).toBe(false);
      expect(existsSync(join(project, 'steps', '.cairn'))).toBe(false);
      expect((await readdir(join(project, '.cairn', 'artifacts'))).length).toBeGreaterThan(0);
      const reopened = await openProject(project);
      try {
        const runs = await reopened.metadata.listRuns({});
        expect(runs).toHaveLength(2);
        expect(runs.map((r) => r.counts?.cached).sort()).toEqual([0, 1]);
      } finally {
        await reopened.close();
      }
    } finally {
      process.chdir(previous);
    }
  });

  it('refuses a folder outside any project, naming it', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'cairn-none-'));
    try {
      await expect(openProject(outside)).rejects.toMatchObject({ code: 'CAIRN_STACK_INVALID' });
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('openProject, the embedded metadata store', () => {
  it("uses the project's own installed @cairn/metadata-sqlite before Cairn's copy", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-open-own-'));
    try {
      await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      await writeFile(join(dir, 'cairn.config.mjs'), 'export default {};\n');
      // The published package's manifest (its exports decide whether the project's copy is found),
      // with a module that says which copy was loaded.
      const installed = join(dir, 'node_modules', '@cairn', 'metadata-sqlite');
      await mkdir(join(installed, 'dist'), { recursive: true });
      const manifest = JSON.parse(
        await readFile(
          resolve(import.meta.dirname, '../../../../plugins/metadata-sqlite/package.json'),
          'utf8',
        ),
      );
      // As a user's Node resolves it: without the workspace's source condition these tests run with.
      delete manifest.exports['.']['@cairn/source'];
      await writeFile(join(installed, 'package.json'), JSON.stringify(manifest));
      await writeFile(
        join(installed, 'dist', 'index.js'),
        'export function sqliteMetadata(options) { return { copy: "the project\'s", file: options.file }; }\n',
      );
      const opened = await openProject(dir, { exact: true });
      expect(opened.metadata).toMatchObject({
        copy: "the project's",
        file: join(dir, '.cairn', 'metadata.db'),
      });
      await opened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
