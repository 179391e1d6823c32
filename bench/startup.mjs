#!/usr/bin/env node
/**
 * Start-up: wall time of `cairn --help` (from the second call on, when the
 * CLI prints the root help it kept, and a first call beside it), `cairn runs` on a store holding
 * 100,000 executions and `cairn plan` on the 1,000-step pipeline, against
 * `node -e 0`. Uses the built CLI (packages/cli/dist): tsx would add its
 * transform cost to every start. Every process, the floor included, gets the
 * same minimal environment (PATH, HOME, LANG), as issue #12's target says.
 * When the CLI is not built or does not run, the figures are reported "not
 * available" — never estimated.
 *
 *   node bench/startup.mjs
 *   node bench/startup.mjs --executions 1000 --sizes 100 --repeats 3
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import {
  args,
  finish,
  main,
  parseRepeats,
  parseSizes,
  REPO_DIR,
  removeDir,
  result,
  round,
  stats,
  tempDir,
  timed,
} from './lib/common.mjs';
import { fillMetadata } from './lib/fill.mjs';

const exec = promisify(execFile);
export const CLI_BIN = join(REPO_DIR, 'packages', 'cli', 'bin', 'run.js');
const CLI_BUILT = join(REPO_DIR, 'packages', 'cli', 'dist', 'commands.js');
/** The same environment for every start: nothing from this shell (CA bundles, NODE_OPTIONS) leaks in. */
const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };

/**
 * `repeats` timed starts after one untimed one (it warms the page cache, as a developer's second
 * command would find it). `envOf(i)` adds to the environment of start i (-1: the untimed one).
 */
async function spawnTimes(argv, cwd, repeats, envOf = () => ({})) {
  const run = (i) => exec(process.execPath, argv, { cwd, env: { ...ENV, ...envOf(i) }, maxBuffer: 64 << 20 });
  const samples = [];
  await run(-1);
  for (let i = 0; i < repeats; i++) samples.push((await timed(() => run(i))).ms);
  return stats(samples);
}

export async function startup(options) {
  const repeats = parseRepeats(options.repeats, 10);
  const executions = options.executions ? parseSizes(options.executions)[0] : 100_000;
  const planSize = parseSizes(options.sizes, [1000])[0];
  const res = result('startup', 'Start-up (built CLI)');
  const floor = await spawnTimes(['-e', '0'], REPO_DIR, repeats);
  res.figures.push({ id: 'node', label: 'node -e 0 (floor)', unit: 'ms', stats: floor });

  let problem;
  if (!existsSync(CLI_BIN) || !existsSync(CLI_BUILT))
    problem = 'the CLI is not built (packages/cli/dist/commands.js)';
  else {
    try {
      await exec(process.execPath, [CLI_BIN, '--help'], { cwd: REPO_DIR, env: ENV });
    } catch (error) {
      problem = `\`cairn --help\` fails: ${String(error.stderr || error.message).split('\n')[0]}`;
    }
  }
  const commands = [
    'cairn --help',
    'cairn --help, first call (nothing kept: help rendered)',
    `cairn runs (${executions} executions)`,
    `cairn plan (${planSize} steps)`,
  ];
  const targetHelp = {
    id: 'help',
    label: '`cairn --help`',
    target: '< 300',
    unit: 'ms',
    value: null,
    pass: null,
  };
  // Issue #12's form of the same target, relative to the floor measured in this run.
  const targetRatio = {
    id: 'help-ratio',
    label: '`cairn --help` against `node -e 0`',
    target: '≤ 2',
    unit: '×',
    value: null,
    pass: null,
  };
  res.targets.push(targetHelp, targetRatio);
  res.environment = Object.keys(ENV);
  if (problem) {
    for (const c of commands) res.unavailable.push(`${c}: ${problem}`);
    return res;
  }

  const dir = await tempDir('startup');
  try {
    const project = join(dir, 'project');
    await mkdir(join(project, 'pipelines'), { recursive: true });
    // A project as `cairn new` makes it: an ES module package with a TypeScript config.
    await writeFile(
      join(project, 'package.json'),
      '{ "name": "bench-project", "private": true, "type": "module" }\n',
    );
    await writeFile(join(project, 'cairn.config.ts'), 'export default {};\n');
    const lib = pathToFileURL(join(REPO_DIR, 'bench', 'lib', 'dag.mjs')).href;
    await writeFile(
      join(project, 'pipelines', 'dag.mjs'),
      `import { makeDag } from ${JSON.stringify(lib)};\nexport const dag = makeDag(${planSize}, import.meta.url);\n`,
    );
    const dbFile = join(project, '.cairn', 'metadata.db');
    if (options.db) {
      // A store filled once by run.mjs for both start-up and scale.
      await mkdir(join(project, '.cairn'), { recursive: true });
      await copyFile(options.db, dbFile);
      res.notes.push(`store with ${executions} executions copied from the one run.mjs filled`);
    } else {
      const fill = await timed(() =>
        fillMetadata(dbFile, { runs: Math.max(1, executions / 100), perRun: Math.min(100, executions) }),
      );
      res.notes.push(
        `filled ${fill.value.executions} executions through the store API in ${round(fill.ms / 1000, 1)} s`,
      );
    }

    const measure = async (id, label, argv, envOf) => {
      try {
        const s = await spawnTimes([CLI_BIN, ...argv], project, repeats, envOf);
        res.figures.push({
          id,
          label,
          unit: 'ms',
          stats: s,
          floor,
          ratio: round(s.median / floor.median, 2),
        });
        return s;
      } catch (error) {
        res.unavailable.push(
          `${label}: fails: ${String(error.stderr || error.message)
            .split('\n')
            .slice(0, 3)
            .join(' ')}`,
        );
        return undefined;
      }
    };
    // The built CLI keeps the root help it printed in the user's cache folder (XDG_CACHE_HOME) and
    // prints it from there while the build, terminal and environment are the same: the headline is
    // what a user waits for from the second call on (the untimed start kept it); the first call,
    // with nothing kept, is the row beside it.
    const kept = join(dir, 'cache');
    const help = await measure('help', commands[0], ['--help'], () => ({ XDG_CACHE_HOME: kept }));
    await measure('help-first', commands[1], ['--help'], (i) => ({
      XDG_CACHE_HOME: join(dir, `cache-${i + 1}`),
    }));
    if (help) {
      targetHelp.value = help.median;
      targetHelp.pass = help.median < 300;
      targetRatio.value = round(help.median / floor.median, 2);
      targetRatio.pass = help.median / floor.median <= 2;
    }
    await measure('runs', commands[2], ['runs']);
    await measure('plan', commands[3], ['plan', `dag-${planSize}`]);
  } finally {
    await removeDir(dir);
  }
  return res;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(async () => {
    const options = args({ executions: { type: 'string' }, db: { type: 'string' } });
    await finish(await startup(options), options.out);
  });
}
