import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { cairn, tempDir } from './helpers';

const REPO_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

// Each command is a new process, as a user runs them: an edited module is really reloaded.
const FILES: Record<string, string> = {
  'package.json': '{ "name": "code-change", "private": true, "type": "module" }\n',
  'cairn.config.ts': [
    "import { defineConfig } from '@cairn/core';",
    "import { sqliteMetadata } from '@cairn/metadata-sqlite';",
    "import { inProcess, localStore } from '@cairn/runtime';",
    'export default defineConfig({',
    "  stack: { storage: localStore({ dir: '.cairn/artifacts' }), metadata: sqliteMetadata({ file: '.cairn/metadata.db' }), executor: inProcess() },",
    '});',
  ].join('\n'),
  'src/deep.ts': 'export const factor = 2;\n',
  'src/classifier.ts':
    "import { factor } from './deep';\nexport const classify = (x: number) => x * factor;\n",
  'steps/train.ts': [
    "import { json, step } from '@cairn/core';",
    "import { classify } from '../src/classifier';",
    "export const train = step({ name: 'train', outputs: { model: json<number>() }, run: () => ({ model: classify(21) }) });",
  ].join('\n'),
  'steps/report.ts': [
    "import { json, step } from '@cairn/core';",
    'export const report = step({',
    "  name: 'report',",
    '  inputs: { model: json<number>() },',
    '  outputs: { summary: json<string>() },',
    '  run: ({ inputs }) => ({ summary: `model ${inputs.model}` }),',
    '});',
  ].join('\n'),
  'steps/other.ts': [
    "import { json, step } from '@cairn/core';",
    "export const other = step({ name: 'other', outputs: { v: json<number>() }, run: () => ({ v: 7 }) });",
  ].join('\n'),
  'pipelines/training.ts': [
    "import { pipeline } from '@cairn/core';",
    "import { other } from '../steps/other';",
    "import { report } from '../steps/report';",
    "import { train } from '../steps/train';",
    "export default pipeline('training', () => {",
    '  report({ model: train().model });',
    '  other();',
    '});',
  ].join('\n'),
};

describe('a step re-runs when a file its module imports changes', () => {
  let project: string;

  beforeAll(async () => {
    project = await tempDir('code-change');
    await symlink(REPO_NODE_MODULES, join(project, 'node_modules'));
    for (const [path, text] of Object.entries(FILES)) {
      await mkdir(dirname(join(project, path)), { recursive: true });
      await writeFile(join(project, path), text);
    }
  });

  const started = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((event) => event.type === 'step.started');

  it('runs that step and its downstream, and plan, events and the rendered run name the file', async () => {
    const first = await cairn(['run', '--json'], project);
    expect(first.code, first.stderr).toBe(0);
    expect(
      started(first.stdout)
        .map((e) => e.step)
        .sort(),
    ).toEqual(['other', 'report', 'train']);

    const file = join(project, 'src', 'deep.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace('2', '3'));
    const plan = await cairn(['plan'], project);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/train\s.*code-changed: src\/deep\.ts/);
    expect(plan.stdout).toMatch(/other\s.*cached/);

    const second = await cairn(['run', '--json'], project);
    expect(second.code, second.stderr).toBe(0);
    const events = started(second.stdout);
    expect(events.map((e) => e.step).sort()).toEqual(['report', 'train']);
    expect(events.find((e) => e.step === 'train')).toMatchObject({
      reason: 'code-changed',
      detail: 'src/deep.ts',
    });
    expect(events.find((e) => e.step === 'report')).toMatchObject({ reason: 'input-changed' });

    writeFileSync(file, readFileSync(file, 'utf8').replace('3', '4'));
    const rendered = await cairn(['run'], project);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toMatch(/train: running \(code-changed: src\/deep\.ts\)/);
  });
});
