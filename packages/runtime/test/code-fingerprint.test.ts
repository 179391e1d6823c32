import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CairnEvent,
  commandStep,
  json,
  type MetadataStore,
  type Pipeline,
  pipeline,
  type StorageDriver,
} from '@cairn/core';
import { localStore, planPipeline, runPipeline } from '@cairn/runtime';
import { memoryMetadata } from '@cairn/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeChange } from '../src/orchestrator/code';
import { loadPipelines } from '../src/project/open';

// A project on disk whose step modules import project files (two levels deep)
// and an installed package, loaded the way `cairn run` loads it.
let dir: string;
let storage: StorageDriver;
let metadata: MetadataStore;
let training: Pipeline;

const FILES: Record<string, string> = {
  'src/deep.ts': 'export const factor = 2;\n',
  'src/classifier.ts':
    "import { factor } from './deep';\nexport const classify = (x: number) => x * factor;\n",
  'src/unrelated.ts': 'export const nobodyImportsThis = 1;\n',
  'steps/train.ts': [
    "import { json, step } from '@cairn/core';",
    "import { offset } from 'fakepkg';",
    "import { classify } from '../src/classifier';",
    'function helper(x: number): number {',
    '  return x + offset;',
    '}',
    'export const train = step({',
    "  name: 'train',",
    '  outputs: { model: json<number>() },',
    '  run: () => ({ model: helper(classify(21)) }),',
    '});',
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
    '  const { model } = train();',
    '  report({ model });',
    '  other();',
    '});',
  ].join('\n'),
  'node_modules/fakepkg/package.json': JSON.stringify({
    name: 'fakepkg',
    version: '1.0.0',
    type: 'module',
    exports: './index.js',
  }),
  'node_modules/fakepkg/index.js': 'export const offset = 0;\n',
};

async function write(path: string, text: string): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  await writeFile(join(dir, path), text);
}

async function edit(path: string, change: (text: string) => string): Promise<void> {
  await write(path, change(await readFile(join(dir, path), 'utf8')));
}

const planOf = async () =>
  Object.fromEntries(
    (await planPipeline(training, { storage, metadata, projectDir: dir })).steps.map((s) => [
      s.step,
      s.detail ? `${s.reason}: ${s.detail}` : s.reason,
    ]),
  );

async function run(): Promise<{ started: string[]; detail: Record<string, string | undefined> }> {
  const events: CairnEvent[] = [];
  const result = await runPipeline(training, {
    storage,
    metadata,
    projectDir: dir,
    onEvent: (e) => events.push(e),
  });
  expect(result.status).toBe('succeeded');
  const started = events.filter((e) => e.type === 'step.started') as Extract<
    CairnEvent,
    { type: 'step.started' }
  >[];
  return {
    started: started.map((e) => e.step).sort(),
    detail: Object.fromEntries(started.map((e) => [e.step, e.detail])),
  };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-code-'));
  for (const [path, text] of Object.entries(FILES)) await write(path, text);
  await mkdir(join(dir, 'node_modules', '@cairn'), { recursive: true });
  await symlink(
    fileURLToPath(new URL('../../core', import.meta.url)),
    join(dir, 'node_modules', '@cairn', 'core'),
  );
  storage = localStore({ dir: join(dir, '.cairn', 'artifacts') });
  metadata = memoryMetadata();
  training = (await loadPipelines(join(dir, 'pipelines'), dir)).get('training')!;
  expect((await run()).started).toEqual(['other', 'report', 'train']);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the code fingerprint follows what a step imports', () => {
  it('an edit two imports deep re-runs that step alone, and the reason names the file', async () => {
    await edit('src/deep.ts', (text) => text.replace('2', '3'));
    expect(await planOf()).toEqual({
      train: 'code-changed: src/deep.ts',
      report: 'upstream',
      other: 'cached',
    });
    const again = await run();
    // The module is already loaded in this process, so train's output (and report's input)
    // stays the same here; a new process computes the new value (the CLI test shows it).
    expect(again.started).toEqual(['train']);
    expect(again.detail.train).toBe('src/deep.ts');
    expect(await planOf()).toEqual({ train: 'cached', report: 'cached', other: 'cached' });
  });

  it('an edit that keeps the size and puts the old mtime back still counts (ctime cannot be set back)', async () => {
    // As an archive, rsync -t or `touch -d` leave a file: new bytes, the mtime it had.
    const file = join(dir, 'src', 'deep.ts');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(file, old, old);
    // The same bytes: still cached, and the kept stamp now has the old mtime, long past.
    expect((await planOf()).train).toBe('cached');
    await edit('src/deep.ts', (text) => text.replace('2', '3'));
    await utimes(file, old, old);
    expect((await planOf()).train).toBe('code-changed: src/deep.ts');
  });

  it("a step made by the project's own factory counts the module that called it, which holds its options", async () => {
    await write(
      'src/factory.ts',
      [
        "import { json, step } from '@cairn/core';",
        'export function scaler(options: { name: string; factor: number }) {',
        '  return step({',
        '    name: options.name,',
        '    outputs: { v: json<number>() },',
        '    run: () => ({ v: 7 * options.factor }),',
        '  });',
        '}',
      ].join('\n'),
    );
    await write(
      'steps/triple.ts',
      "import { scaler } from '../src/factory';\nexport const triple = scaler({ name: 'triple', factor: 3 });\n",
    );
    await write(
      'pipelines/scaled.ts',
      "import { pipeline } from '@cairn/core';\nimport { triple } from '../steps/triple';\nexport default pipeline('scaled', () => void triple());\n",
    );
    const scaled = (await loadPipelines(join(dir, 'pipelines'), dir)).get('scaled')!;
    const plan = async () =>
      (await planPipeline(scaled, { storage, metadata, projectDir: dir })).steps.map((s) =>
        s.detail ? `${s.reason}: ${s.detail}` : s.reason,
      );
    const first = await runPipeline(scaled, { storage, metadata, projectDir: dir });
    expect(first.status).toBe('succeeded');
    expect(await plan()).toEqual(['cached']);
    await edit('steps/triple.ts', (text) => text.replace('factor: 3', 'factor: 5'));
    expect(await plan()).toEqual(['code-changed: steps/triple.ts']);
  });

  it('an edit of a helper beside run, in the step module, re-runs the step', async () => {
    await edit('steps/train.ts', (text) => text.replace('return x + offset;', 'return x + offset + 1;'));
    expect((await planOf()).train).toBe('code-changed: steps/train.ts');
  });

  it('an edit of a project file no step imports keeps everything cached', async () => {
    await edit('src/unrelated.ts', (text) => `${text}export const more = 2;\n`);
    await write('notes.md', '# nothing to do with the code\n');
    expect(await planOf()).toEqual({ train: 'cached', report: 'cached', other: 'cached' });
    expect((await run()).started).toEqual([]);
  });

  it('a new version of an imported package re-runs the steps that import it, naming it', async () => {
    await edit('node_modules/fakepkg/package.json', (text) => text.replace('1.0.0', '1.0.1'));
    expect(await planOf()).toEqual({
      train: 'code-changed: fakepkg@1.0.1',
      report: 'upstream',
      other: 'cached',
    });
  });

  it('a new version of what an imported package depends on re-runs the step too (npm update)', async () => {
    // fakepkg comes to depend on fakedep (hoisted beside it), as an install would lay it out.
    await write(
      'node_modules/fakedep/package.json',
      JSON.stringify({ name: 'fakedep', version: '1.0.0', type: 'module', exports: './index.js' }),
    );
    await write('node_modules/fakedep/index.js', 'export const d = 1;\n');
    await edit('node_modules/fakepkg/package.json', (text) =>
      JSON.stringify({ ...JSON.parse(text), dependencies: { fakedep: '^1.0.0' } }),
    );
    expect((await planOf()).train).toBe('code-changed: fakedep@1.0.0');
    expect((await run()).started).toEqual(['train']);
    // Only the dependency's dependency moves: fakepkg's own version stays 1.0.0.
    await edit('node_modules/fakedep/package.json', (text) => text.replace('1.0.0', '1.0.1'));
    expect(await planOf()).toEqual({
      train: 'code-changed: fakedep@1.0.1',
      report: 'upstream',
      other: 'cached',
    });
  });

  it('a command step counts the script its command names', async () => {
    await write('scripts/fit.sh', 'echo 1 > "$1"\n');
    const fit = commandStep({
      name: 'fit',
      command: 'sh scripts/fit.sh {outputs.v}',
      outputs: { v: json<number>() },
    });
    const fitting = pipeline('fitting', () => void fit());
    const reasons = async () =>
      (await planPipeline(fitting, { storage, metadata, projectDir: dir })).steps.map((s) =>
        s.detail ? `${s.reason}: ${s.detail}` : s.reason,
      );
    expect((await runPipeline(fitting, { storage, metadata, projectDir: dir })).status).toBe('succeeded');
    expect(await reasons()).toEqual(['cached']);
    await edit('scripts/fit.sh', (text) => text.replace('1', '2'));
    expect(await reasons()).toEqual(['code-changed: scripts/fit.sh']);
  });

  it('several changed files: the first few and how many more', () => {
    const before = { 'a.ts': '1', 'b.ts': '1', 'c.ts': '1', 'd.ts': '1', 'e.ts': '1', '(run)': 'x' };
    const after = { 'a.ts': '2', 'b.ts': '2', 'c.ts': '2', 'd.ts': '2', '(run)': 'y' };
    expect(codeChange(before, after)).toBe('a.ts, b.ts, c.ts (+2 more)');
    expect(codeChange({ '(run)': 'x' }, { '(run)': 'y' })).toBe('run()');
    expect(codeChange({ 'a.ts': '1' }, { 'a.ts': '1' })).toBeUndefined();
  });
});

describe('which modules a step belongs to', () => {
  it('a step from a module outside the project is not tied to whichever module imported it', async () => {
    // A team monorepo: steps in a sibling workspace folder (not under node_modules), imported by
    // the project's pipeline, which `cairn run`, `cairn plan` or a script load through different
    // entry points. The importers are async frames on the stack; they are not the step's code.
    const root = await mkdtemp(join(tmpdir(), 'cairn-modules-'));
    try {
      await mkdir(join(root, 'node_modules', '@cairn'), { recursive: true });
      await symlink(
        fileURLToPath(new URL('../../core', import.meta.url)),
        join(root, 'node_modules', '@cairn', 'core'),
      );
      await mkdir(join(root, 'shared'), { recursive: true });
      await mkdir(join(root, 'project', 'pipelines'), { recursive: true });
      await writeFile(
        join(root, 'shared', 'steps.mjs'),
        "import { json, step } from '@cairn/core';\nexport const shared = step({ name: 'shared', outputs: { v: json() }, run: () => ({ v: 1 }) });\n",
      );
      await writeFile(
        join(root, 'project', 'pipelines', 'p.mjs'),
        "export { shared } from '../../shared/steps.mjs';\n",
      );
      const entry = join(root, 'project', 'entry.mjs');
      await writeFile(
        entry,
        "async function open() { return import('./pipelines/p.mjs'); }\nconst { shared } = await open();\nprocess.stdout.write(JSON.stringify(shared.modules));\n",
      );
      const child = spawnSync(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', entry], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
      });
      expect(child.stderr).toBe('');
      const modules = JSON.parse(child.stdout) as string[];
      expect(modules[0]).toBe(join(root, 'shared', 'steps.mjs'));
      expect(modules).not.toContain(entry);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
