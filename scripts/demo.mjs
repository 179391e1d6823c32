#!/usr/bin/env node
/**
 * `npm run demo` — Cairn's main job on the embedded defaults, from a fresh clone:
 * scaffold a team project from the `project-tabular` template, linked to this
 * monorepo's packages (no registry needed), install it, run its training
 * pipeline on real penguins data (ingest, validate, prepare, train, evaluate,
 * register, gate, load test, deploy) on the embedded defaults (local artifact
 * folder + SQLite metadata), run it again to show that every step is reused
 * from the cache, and print the gate's decision, where the evaluation report
 * is, the deployed endpoint and the project's MLOps level.
 *
 * The project lands in .demo/<name> (git-ignored). It is the demo's own
 * folder: a previous demo project there is replaced.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const name = process.argv[2] ?? 'penguins-team';
const project = join(root, '.demo', name);
const cli = join(root, 'packages', 'cli', 'bin', 'dev.js');
const shown = relative(process.cwd(), project) || '.';

function step(title, command, args, cwd = root) {
  console.log(`\n▸ ${title}\n  $ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, {
    cwd,
    stdio: 'inherit',
    env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '1' },
  });
  if (result.status !== 0) {
    console.error(`\n✖ ${title} failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status ?? 1);
  }
}

if (existsSync(project)) {
  console.log(`Replacing the previous demo project in ${shown}`);
  rmSync(project, { recursive: true, force: true });
}
step('Scaffold a team project (template project-tabular, linked to this repo)', process.execPath, [
  cli,
  'new',
  project,
  '--link',
  '--yes',
  '--no-git',
]);
step('Run the training pipeline on the embedded defaults', 'npx', ['cairn', 'run'], project);
step('Run it again: every step is reused from the cache', 'npx', ['cairn', 'run'], project);
step(
  'The evaluation gate: metrics and the promotion decision',
  'npx',
  ['cairn', 'report', 'latest', '--summary'],
  project,
);
step(
  'The evaluation report (HTML with charts; open it in a browser)',
  'npx',
  ['cairn', 'report', 'latest'],
  project,
);
step(
  'The deployed endpoint (the deploy step put the production model behind it)',
  'npx',
  ['cairn', 'endpoints', 'history', 'penguins'],
  project,
);
step('Where the project stands on the MLOps levels', 'npx', ['cairn', 'doctor'], project);

console.log(`
✔ Demo done. The project is in ${shown}:
  (doctor's one missing practice, pinned plugin versions, is the --link to this
  checkout: a project installed from a registry starts at level 2, which
  tests/publish checks)
    cd ${shown}
    npx cairn runs              # the two runs
    npx cairn runs show <id>    # steps, configs, artifacts, metrics of one run
    npx cairn registry          # registered models and their stages
    npx cairn serve             # answer predictions on http://127.0.0.1:8080/v1/endpoints/penguins/predict
    npx cairn compare latest~1 latest   # two runs side by side
    npm test                    # the project's own tests
`);
