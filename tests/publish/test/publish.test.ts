/**
 * The path a platform team walks, for real and on loopback only: publish
 * every public @cairn package into a Verdaccio registry with changesets,
 * scaffold a team project from that registry, run its tests and pipeline,
 * then run the five commands of docs/platform-teams.md exactly as the guide
 * writes them (scaffold an @acme storage plugin, test, changeset, publish,
 * `cairn add`), check each prints what the guide shows, and that the next
 * run stores its artifacts through the plugin.
 *
 * No test bounds how long anything takes: timeouts are generous backstops
 * for a hung child, never a claim about speed (that belongs in bench/).
 *
 * Only the @cairn and @acme scopes point at Verdaccio (as the `.npmrc` that
 * `cairn new --registry` writes does); third-party packages come from the
 * default registry, through an npm cache of this run's own (see beforeAll).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CairnEvent } from '@cairn/core';
import { freePort } from '@cairn/testkit/ports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const cli = join(repo, 'packages', 'cli', 'bin', 'run.js');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program to completion; never throws, so assertions can show its output. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => resolve({ code: 127, stdout, stderr: `${stderr}${error}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** What a failed command said, for assertion messages. */
const said = (what: string, r: Result) =>
  `${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

function expectOk(what: string, r: Result): Result {
  expect(r.code, said(what, r)).toBe(0);
  return r;
}

const events = (stdout: string): CairnEvent[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as CairnEvent);

const finished = (list: CairnEvent[]) =>
  list.find((e): e is Extract<CairnEvent, { type: 'run.finished' }> => e.type === 'run.finished');

/** The public workspace packages: what `changeset publish` must put in the registry. */
function publicWorkspacePackages(): { name: string; version: string }[] {
  const root = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { workspaces: string[] };
  const found: { name: string; version: string }[] = [];
  for (const pattern of root.workspaces) {
    const base = join(repo, pattern.replace(/\/\*$/, ''));
    const dirs = !pattern.endsWith('/*')
      ? [base]
      : existsSync(base)
        ? readdirSync(base).map((name) => join(base, name))
        : [];
    for (const dir of dirs) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const pjson = JSON.parse(readFileSync(file, 'utf8'));
      if (pjson.private !== true) found.push({ name: pjson.name, version: pjson.version });
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

let work: string;
let registry: string;
let verdaccio: ChildProcess | undefined;
let verdaccioLog = '';
/** The environment every child runs with: ours minus what npm, vitest and Node options leak in. */
let env: NodeJS.ProcessEnv;
let team: string;
let plugin: string;
/** The guide's placeholders, and what they stand for here. */
const GUIDE_REGISTRY = 'https://npm.acme.internal/';
const pluginName = '@acme/storage-gcs';
/** Long enough for npm installs and builds on a loaded machine; only a hung child ever reaches it. */
const BACKSTOP = 60 * 60_000;
/** Which stages finished: a later stage that needs an earlier one says so instead of failing obscurely. */
const reached = { published: false, team: false, plugin: false };
const needs = (stage: keyof typeof reached) =>
  expect(reached[stage], `needs the "${stage}" stage of an earlier test, which failed`).toBe(true);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cairn-publish-'));
  const port = await freePort();
  registry = `http://127.0.0.1:${port}/`;
  const config = join(work, 'verdaccio.yaml');
  await writeFile(
    config,
    [
      `storage: ${JSON.stringify(join(work, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(join(work, 'htpasswd'))}`,
      '    max_users: 10',
      // No uplinks: the registry serves only what this test publishes.
      'uplinks: {}',
      'packages:',
      "  '@*/*':",
      '    access: $all',
      '    publish: $all',
      "  '**':",
      '    access: $all',
      '    publish: $all',
      'max_body_size: 200mb',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const verdaccioRoot = join(createRequire(import.meta.url).resolve('verdaccio/package.json'), '..');
  verdaccio = spawn(
    process.execPath,
    [join(verdaccioRoot, 'bin', 'verdaccio'), '--config', config, '--listen', `127.0.0.1:${port}`],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  verdaccio.stdout?.on('data', (c: Buffer) => {
    verdaccioLog += c.toString('utf8');
  });
  verdaccio.stderr?.on('data', (c: Buffer) => {
    verdaccioLog += c.toString('utf8');
  });
  // No deadline of its own: a registry that exits is caught at once, one that never answers by the hook's BACKSTOP.
  for (;;) {
    if (verdaccio.exitCode !== null) throw new Error(`Verdaccio exited:\n${verdaccioLog}`);
    try {
      if ((await fetch(`${registry}-/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const user = await fetch(`${registry}-/user/org.couchdb.user:platform`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'platform', password: 'platform-team' }),
  });
  expect(user.status, verdaccioLog).toBe(201);
  const { token } = (await user.json()) as { token: string };

  // The user's npm settings (cache, nodedir for native builds, …) plus the
  // token for the loopback registry, in a userconfig of our own.
  const ownUserconfig = process.env.npm_config_userconfig ?? join(homedir(), '.npmrc');
  const userSettings = existsSync(ownUserconfig) ? await readFile(ownUserconfig, 'utf8') : '';
  const userconfig = join(work, 'npmrc');
  await writeFile(userconfig, `${userSettings}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !/^(npm_|VITEST|NODE_OPTIONS$|NODE_ENV$|TEST$|INIT_CWD$|FORCE_COLOR$)/i.test(key),
    ),
  );
  Object.assign(env, {
    npm_config_userconfig: userconfig,
    // A cache of this run's own: npm caches what a registry answered by its URL, and the loopback
    // registry's port is picked at random, so a port an earlier run used held that run's @cairn
    // packages in a shared cache, and with prefer-offline an "empty" registry was not empty.
    npm_config_cache: join(work, 'npm-cache'),
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    NX_DAEMON: 'false',
    NO_COLOR: '1',
  });
  team = join(work, 'team');
  plugin = join(work, 'storage-gcs');
}, BACKSTOP);

afterAll(async () => {
  if (verdaccio && verdaccio.exitCode === null && verdaccio.pid !== undefined) {
    const exited = new Promise((r) => verdaccio!.once('exit', r));
    process.kill(verdaccio.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (verdaccio!.exitCode === null && verdaccio!.pid !== undefined)
        process.kill(verdaccio!.pid, 'SIGKILL');
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
  if (work) await rm(work, { recursive: true, force: true });
});

/** `npm view` against the test registry only. */
const view = (spec: string, field: string) =>
  run(NPM, ['view', spec, field, '--json', '--registry', registry], work, env);

/** One step of docs/platform-teams.md: a `$ ` command line and the lines the guide shows it printing. */
interface GuideStep {
  command: string;
  output: string[];
}

/** The commands of the guide's ```console blocks, in order, with the output shown under each. */
function guideSteps(markdown: string): GuideStep[] {
  const steps: GuideStep[] = [];
  for (const block of markdown.matchAll(/```console\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), output: [] });
      else if (line.trim() !== '' && line.trim() !== '…') steps.at(-1)?.output.push(line);
    }
  }
  return steps;
}

const normalize = (line: string) => line.replace(/\s+/g, ' ').trim();

let shellCwd: string;
/**
 * Run a guide command as a shell would, in a session whose folder persists
 * (`cd dir && …`). The only rewrites: the guide's registry URL is this test's
 * registry, and `npx @cairn/cli` is the CLI just built from this checkout.
 */
async function runGuideCommand(command: string): Promise<Result> {
  let line = command.replaceAll(GUIDE_REGISTRY, registry);
  line = line.replace(/^npx @cairn\/cli /, `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} `);
  const cd = /^cd (\S+) && (.*)$/.exec(line);
  if (cd) {
    shellCwd = join(shellCwd, cd[1]!);
    line = cd[2]!;
  }
  return run('bash', ['-c', line], shellCwd, env);
}

describe('the platform-team path through a private registry', () => {
  it('publishes every public workspace package into the registry with changesets', {
    timeout: BACKSTOP,
  }, async () => {
    expectOk(
      'nx run-many -t build',
      // Skip the nx cache: the CLI's build also copies templates/ from outside its project root.
      await run(
        NPX,
        ['nx', 'run-many', '-t', 'build', '--skip-nx-cache', '--output-style=static'],
        repo,
        env,
      ),
    );
    // The registry is still empty, like a fresh company registry: cairn new must say what to do and
    // write nothing, both with --registry and with npm's configured registry (here the same one).
    for (const flags of [['--registry', registry], []]) {
      const refused = await run(
        process.execPath,
        [cli, 'new', 'too-early', ...flags, '--yes', '--no-git'],
        work,
        {
          ...env,
          npm_config_registry: registry,
        },
      );
      expect(refused.code, said('cairn new (empty registry)', refused)).toBe(2);
      expect(refused.stderr).toMatch(/@cairn\/core@\S+ is not on the registry/);
      expect(refused.stderr).toMatch(/--registry <url>/);
      expect(refused.stderr).toMatch(/--link/);
      expect(existsSync(join(work, 'too-early'))).toBe(false);
    }

    const published = expectOk(
      'changeset publish',
      // --no-git-tag: the checkout's tags are not this test's to make.
      await run(NPX, ['changeset', 'publish', '--no-git-tag'], repo, {
        ...env,
        npm_config_registry: registry,
      }),
    );
    const expected = publicWorkspacePackages();
    expect(expected.map((p) => p.name)).toContain('@cairn/core');
    expect(expected.map((p) => p.name)).toContain('@cairn/cli');
    for (const { name, version } of expected) {
      expect(published.stdout + published.stderr).toContain(`${name}@${version}`);
      const served = await view(`${name}@${version}`, 'version');
      expect(served.code, said(`npm view ${name}`, served)).toBe(0);
      expect(JSON.parse(served.stdout)).toBe(version);
    }
    // The CLI tarball the registry serves carries its built commands, manifest and templates.
    const packed = expectOk(
      'npm pack @cairn/cli',
      await run(NPM, ['pack', '@cairn/cli', '--dry-run', '--json', '--registry', registry], work, env),
    );
    const [cliTarball] = JSON.parse(packed.stdout) as { files: { path: string }[] }[];
    expect(cliTarball!.files.map((f) => f.path)).toEqual(
      expect.arrayContaining([
        'bin/run.js',
        'dist/commands.js',
        'oclif.manifest.json',
        'templates/project-tabular/package.json.eta',
        'templates/plugin/package.json.eta',
      ]),
    );
    reached.published = true;
  });

  it('scaffolds a team project that installs @cairn packages from the registry', {
    timeout: BACKSTOP,
  }, async () => {
    needs('published');
    const created = expectOk(
      'cairn new team',
      await run(
        process.execPath,
        [cli, 'new', team, '--registry', registry, '--scope', '@acme', '--yes', '--no-git'],
        work,
        env,
      ),
    );
    expect(created.stdout).toContain('Installed dependencies');
    // Both scopes on the company registry: ours and the team's own plugins.
    const npmrc = (await readFile(join(team, '.npmrc'), 'utf8')).split('\n');
    expect(npmrc).toContain(`@cairn:registry=${registry}`);
    expect(npmrc).toContain(`@acme:registry=${registry}`);
    const pjson = JSON.parse(await readFile(join(team, 'package.json'), 'utf8'));
    for (const name of ['@cairn/cli', '@cairn/core']) expect(pjson.dependencies[name]).toMatch(/^\^\d/);
    // The installed tarballs are the ones the registry serves.
    const lock = JSON.parse(await readFile(join(team, 'package-lock.json'), 'utf8'));
    for (const name of ['@cairn/cli', '@cairn/core', '@cairn/metadata-sqlite']) {
      const integrity = await view(name, 'dist.integrity');
      expect(lock.packages[`node_modules/${name}`]?.integrity, name).toBe(JSON.parse(integrity.stdout));
    }
    reached.team = true;
  });

  it("passes the team project's own tests as generated", { timeout: BACKSTOP }, async () => {
    needs('team');
    expectOk('npm test (team)', await run(NPM, ['test'], team, env));
  });

  it('runs the team pipeline to success, and a second run is fully cached', {
    timeout: BACKSTOP,
  }, async () => {
    needs('team');
    const first = await run(NPX, ['cairn', 'run', '--json'], team, env);
    expect(first.code, said('cairn run', first)).toBe(0);
    const firstEnd = finished(events(first.stdout));
    expect(firstEnd?.status).toBe('succeeded');
    expect(firstEnd?.counts.executed).toBeGreaterThan(0);

    const second = await run(NPX, ['cairn', 'run', '--json'], team, env);
    expect(second.code, said('cairn run (second)', second)).toBe(0);
    const secondEvents = events(second.stdout);
    const secondEnd = finished(secondEvents);
    expect(secondEnd?.status).toBe('succeeded');
    const rerun = secondEvents.flatMap((e) => (e.type === 'step.started' ? [`${e.step} (${e.reason})`] : []));
    expect(rerun, 'steps the second run executed again').toEqual([]);
    expect(secondEnd?.counts).toMatchObject({ executed: 0, failed: 0, skipped: 0 });
    expect(secondEnd?.counts.cached).toBe(firstEnd?.counts.executed);
  });

  it('starts the team at MLOps level 2: cairn doctor finds every practice in place', {
    timeout: BACKSTOP,
  }, async () => {
    needs('team');
    const doctor = await run(NPX, ['cairn', 'doctor', '--json'], team, env);
    expect(doctor.code, said('cairn doctor', doctor)).toBe(0);
    const report = JSON.parse(doctor.stdout) as {
      level: number;
      practices: Array<{ id: string; ok: boolean; detail: string }>;
    };
    const missing = report.practices.filter((p) => !p.ok).map((p) => `${p.id}: ${p.detail}`);
    expect(missing).toEqual([]);
    expect(report.level).toBe(2);
  });

  it('docs/platform-teams.md: its five commands, run as written, print what the guide shows', {
    timeout: BACKSTOP,
  }, async () => {
    needs('published');
    needs('team');
    const steps = guideSteps(await readFile(join(repo, 'docs', 'platform-teams.md'), 'utf8'));
    expect(steps.length).toBeGreaterThanOrEqual(5);
    expect(steps.length, 'the guide promises at most five commands').toBeLessThanOrEqual(5);
    shellCwd = work;
    for (const [i, step] of steps.entries()) {
      const result = await runGuideCommand(step.command);
      const what = `guide step ${i + 1}: ${step.command}`;
      expect(result.code, said(what, result)).toBe(0);
      const printed = `${result.stdout}\n${result.stderr}`.split('\n').map(normalize);
      for (const shown of step.output) {
        const expected = normalize(shown.replaceAll(GUIDE_REGISTRY, registry));
        // A line ending in "…" shows its start only (what follows varies, e.g. a duration).
        const found = expected.endsWith(' …')
          ? printed.some((line) => line.startsWith(expected.slice(0, -2)))
          : printed.includes(expected);
        expect(found, `${what}\nshould print: ${expected}\n${said(what, result)}`).toBe(true);
      }
    }

    // What the steps made: a published plugin that says what it is, wired into the team's stack.
    const pjson = JSON.parse(await readFile(join(plugin, 'package.json'), 'utf8'));
    expect(pjson.name).toBe(pluginName);
    expect(pjson.publishConfig?.registry).toBe(registry);
    const served = await view(`${pluginName}@${pjson.version}`, 'cairn');
    expect(served.code, said('npm view plugin', served)).toBe(0);
    expect(JSON.parse(served.stdout)).toMatchObject({ kind: 'storage', id: 'gcs', factory: 'gcsStorage' });
    const installed = JSON.parse(
      await readFile(join(team, 'node_modules', '@acme', 'storage-gcs', 'package.json'), 'utf8'),
    );
    expect(installed.version).toBe(pjson.version);
    const teamPjson = JSON.parse(await readFile(join(team, 'package.json'), 'utf8'));
    expect(teamPjson.dependencies[pluginName]).toBeDefined();
    const config = await readFile(join(team, 'cairn.config.ts'), 'utf8');
    expect(config).toContain(`import gcsStorage from '${pluginName}';`);
    expect(config).toMatch(/storage:\s*gcsStorage\(\)/);
    reached.plugin = true;
  });

  it('the next run stores its artifacts through the added plugin', { timeout: BACKSTOP }, async () => {
    needs('plugin');
    const next = await run(NPX, ['cairn', 'run', '--json'], team, env);
    expect(next.code, said('cairn run (gcs storage)', next)).toBe(0);
    const list = events(next.stdout);
    expect(finished(list)?.status).toBe('succeeded');
    // Every artifact the run produced or reused lives where the plugin puts
    // objects (its default dir, .cairn/gcs): the run used that storage.
    const digests = list.flatMap((e) =>
      e.type === 'step.succeeded' || e.type === 'step.cached'
        ? Object.values(e.outputs).map((ref) => ref.digest)
        : [],
    );
    expect(digests.length).toBeGreaterThan(0);
    for (const digest of digests) {
      const hex = digest.replace(/^sha256:/, '');
      // the local store's layout: objects/<first 2 hex>/<other 62 hex>
      expect(existsSync(join(team, '.cairn', 'gcs', 'objects', hex.slice(0, 2), hex.slice(2))), digest).toBe(
        true,
      );
    }
  });

  it('cairn add of a scoped plugin whose scope has no .npmrc line says exactly which line is missing', {
    timeout: BACKSTOP,
  }, async () => {
    needs('team');
    const npmrcFile = join(team, '.npmrc');
    const npmrc = await readFile(npmrcFile, 'utf8');
    const before = {
      pjson: await readFile(join(team, 'package.json')),
      lock: await readFile(join(team, 'package-lock.json')),
      config: await readFile(join(team, 'cairn.config.ts')),
    };
    try {
      await writeFile(npmrcFile, npmrc.replace(/^@acme:registry=.*\n/m, ''));
      // npm's default registry is the (hermetic) test registry, which has no such package.
      const refused = await run(NPX, ['cairn', 'add', '@acme/storage-elsewhere'], team, {
        ...env,
        npm_config_registry: registry,
      });
      expect(refused.code, said('cairn add (no scope line)', refused)).toBe(2);
      expect(refused.stderr).toContain('.npmrc has no registry line for @acme');
      // The line to add, with the registry the project already uses for @cairn.
      expect(refused.stderr).toContain(`@acme:registry=${registry}`);
    } finally {
      await writeFile(npmrcFile, npmrc);
    }
    expect(await readFile(join(team, 'package.json'))).toEqual(before.pjson);
    expect(await readFile(join(team, 'package-lock.json'))).toEqual(before.lock);
    expect(await readFile(join(team, 'cairn.config.ts'))).toEqual(before.config);
  });

  it('cairn add refuses a package without a "cairn" field: exit 2, none of its scripts run, nothing changed', {
    timeout: BACKSTOP,
  }, async () => {
    needs('team');
    const folder = join(work, 'not-a-plugin');
    const marker = join(work, 'not-a-plugin.script-ran');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'package.json'),
      JSON.stringify({
        name: '@acme/not-a-plugin',
        version: '1.0.0',
        type: 'module',
        main: 'index.js',
        // A plain npm install runs this; cairn add must refuse the package before it can.
        scripts: { postinstall: `node -e "require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')"` },
      }),
    );
    await writeFile(join(folder, 'index.js'), 'export default {};\n');
    expectOk('npm publish not-a-plugin', await run(NPM, ['publish', '--registry', registry], folder, env));

    const before = {
      pjson: await readFile(join(team, 'package.json')),
      lock: await readFile(join(team, 'package-lock.json')),
      config: await readFile(join(team, 'cairn.config.ts')),
    };
    const refused = await run(NPX, ['cairn', 'add', '@acme/not-a-plugin', '--registry', registry], team, env);
    expect(refused.code, said('cairn add not-a-plugin', refused)).toBe(2);
    expect(refused.stderr).toMatch(/not a Cairn plugin/);
    expect(existsSync(marker), 'the refused package ran its postinstall script').toBe(false);
    expect(await readFile(join(team, 'package.json'))).toEqual(before.pjson);
    expect(await readFile(join(team, 'package-lock.json'))).toEqual(before.lock);
    expect(await readFile(join(team, 'cairn.config.ts'))).toEqual(before.config);
    expect(existsSync(join(team, 'node_modules', '@acme', 'not-a-plugin'))).toBe(false);
  });
});
