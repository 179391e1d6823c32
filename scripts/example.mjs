#!/usr/bin/env node
// examples/penguins is not written by hand: it is what `cairn new --data` makes
// of the full Palmer penguins data, so it cannot drift from the project template.
//
//   node scripts/example.mjs          re-render examples/penguins from templates/project-tabular
//   node scripts/example.mjs --check  exit 1, naming every file that differs (run by `npm test`)
//
// Files the template does not make are allowed only in project.json (the nx
// wiring that builds the packages the example imports, as a team's project
// would install them, before its typecheck and tests) and under test/example/ (tests
// that belong to the example alone); node_modules and .cairn are left alone.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const example = join(root, 'examples', 'penguins');
const check = process.argv.includes('--check');
const KEEP = (rel) => rel === 'project.json' || rel.startsWith('test/example/');
const SKIP_DIRS = new Set(['node_modules', '.cairn', '.git']);

/** The exact `cairn new` the example comes from; README.md says the same. */
const NEW_ARGS = [
  'new',
  'penguins',
  '--name',
  '@cairn/example-penguins',
  '--data',
  // Relative, so the comment cairn new writes into conf/base/ingest.yaml names
  // the same path on every machine (the work folder links to our node_modules).
  'node_modules/vega-datasets/data/penguins.json',
  '--target',
  'Species',
  '--no-install',
  '--no-git',
  '--yes',
];

function files(dir, base = '') {
  if (!existsSync(dir)) return [];
  return readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((entry) => {
      if (SKIP_DIRS.has(entry.name)) return [];
      const rel = base ? `${base}/${entry.name}` : entry.name;
      return entry.isDirectory() ? files(dir, rel) : [rel];
    })
    .sort();
}

const work = mkdtempSync(join(tmpdir(), 'cairn-example-'));
try {
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
  const made = spawnSync(process.execPath, [join(root, 'packages', 'cli', 'bin', 'dev.js'), ...NEW_ARGS], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (made.status !== 0) {
    process.stderr.write(`cairn new failed (exit ${made.status}):\n${made.stdout}${made.stderr}`);
    process.exit(1);
  }
  const rendered = join(work, 'penguins');
  const want = files(rendered);
  const have = files(example).filter((f) => !KEEP(f));
  const missing = want.filter((f) => !have.includes(f));
  const extra = have.filter((f) => !want.includes(f));
  const differ = want.filter(
    (f) => have.includes(f) && !readFileSync(join(rendered, f)).equals(readFileSync(join(example, f))),
  );

  if (check) {
    if (missing.length + extra.length + differ.length === 0) {
      console.log(`examples/penguins matches templates/project-tabular (${want.length} files)`);
      process.exit(0);
    }
    const list = (label, items) => items.length && console.error(`  ${label}: ${items.join(', ')}`);
    console.error('examples/penguins has drifted from what templates/project-tabular renders:');
    list('not in the example', missing);
    list('not made by the template (move example-only tests to test/example/)', extra);
    list('different', differ);
    console.error('Run `node scripts/example.mjs` to re-render it, and commit the result.');
    process.exit(1);
  }

  for (const f of extra) rmSync(join(example, f));
  for (const f of want) {
    mkdirSync(dirname(join(example, f)), { recursive: true });
    writeFileSync(join(example, f), readFileSync(join(rendered, f)));
  }
  console.log(
    `examples/penguins re-rendered: ${missing.length} added, ${differ.length} changed, ${extra.length} removed`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
