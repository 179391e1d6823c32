// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../lib/base';

export default class Add extends CairnCommand {
  static override summary = 'Install a plugin package and wire it into cairn.config.ts';
  static override description =
    'Short names map to our packages (storage-s3 → @cairn/storage-s3); any npm name works, e.g. a platform team\'s @acme/storage-gcs. The package is installed without running its scripts, then checked: it must declare a "cairn" field (kind, id, and optionally factory, options, env and team) and a peer dependency on @cairn/core that the project\'s core satisfies; otherwise it is uninstalled (CAIRN_PLUGIN_INVALID) and nothing changes. Only a valid plugin\'s install scripts run. cairn.config.ts gets one import line and one property, written from the plugin\'s "cairn" field; the rest of the file stays as you wrote it. Plugins marked "team" (shared backends such as storage-s3, metadata-postgres) go into the `team` environment (`cairn run --env team`) with every setting read from environment variables, which are added to .env.example; other plugins replace the slot of the base stack. --env picks the environment (`--env local`: the base stack).';
  static override examples = [
    '<%= config.bin %> add storage-s3                 # env.team, settings from ${env:ARTIFACT_BUCKET}, …',
    '<%= config.bin %> add metadata-postgres --env prod',
    '<%= config.bin %> add ../storage-disk --env local  # a local plugin package, into the base stack',
    '<%= config.bin %> add @acme/storage-gcs --registry https://npm.acme.internal',
  ];
  static override args = {
    plugin: Args.string({ description: 'Short name (storage-s3) or npm package name', required: true }),
  };
  static override flags = {
    registry: Flags.string({
      description: "npm registry to install from (default: the project .npmrc, else npm's)",
    }),
    env: Flags.string({
      char: 'e',
      description:
        'Environment to wire the plugin into; `local` is the base stack (default: team for storage-s3 and metadata-postgres, else local)',
    }),
    install: Flags.boolean({
      description: 'Run npm install (--no-install: the package is already installed)',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Add);
    const { existsSync } = await import('node:fs');
    const { readFile, rename, writeFile } = await import('node:fs/promises');
    const { join, resolve } = await import('node:path');
    const { usageError } = await import('../lib/errors');
    const plugins = await import('../lib/plugins');
    // A local folder (file:<dir>, ./dir) is installed as a link; its name comes from its package.json.
    const local = /^(?:file:|\.{1,2}\/|\/)/.test(args.plugin);
    let resolved: { package: string } | undefined;
    let installSpec = args.plugin;
    if (local) {
      const folder = resolve(args.plugin.replace(/^file:/, ''));
      const manifest = join(folder, 'package.json');
      if (!existsSync(manifest)) throw usageError(`${args.plugin} has no package.json`);
      resolved = { package: JSON.parse(await readFile(manifest, 'utf8')).name };
      installSpec = `file:${folder}`;
    } else {
      resolved = plugins.resolvePluginName(args.plugin, { allowUnscoped: true });
      if (resolved) installSpec = resolved.package;
    }
    if (!resolved?.package) {
      throw usageError(`"${args.plugin}" is not a plugin name`, {
        hint: `${plugins.PLUGIN_NAME_HINT} A local package: file:<folder>.`,
      });
    }
    const { requireProjectDir } = await import('../lib/project');
    const { PROJECT_CONFIG_FILES } = await import('@cairn/runtime');
    const projectDir = await requireProjectDir(flags.project);
    const configFile = PROJECT_CONFIG_FILES.map((f) => join(projectDir, f)).find((f) => existsSync(f))!;
    const pjsonFile = join(projectDir, 'package.json');
    const lockFile = join(projectDir, 'package-lock.json');
    const original = {
      pjson: existsSync(pjsonFile) ? await readFile(pjsonFile) : undefined,
      lock: existsSync(lockFile) ? await readFile(lockFile) : undefined,
    };
    const pkg = resolved.package;
    if (!local && original.pjson) {
      // A project linked to a Cairn checkout (cairn new --link) links our plugins from it too.
      const deps = JSON.parse(original.pjson.toString('utf8')).dependencies ?? {};
      const linked = String(deps['@cairn/core'] ?? '').startsWith('file:');
      const entry = linked ? (await import('../lib/workspace')).monorepoPackages()?.get(pkg) : undefined;
      if (entry) installSpec = `file:${entry.dir}`;
    }
    const { runProcess, progress, NPM } = await import('../lib/proc');
    const npm = (npmArgs: string[], onLine?: (l: string) => void) =>
      runProcess(
        NPM,
        [...npmArgs, '--no-audit', '--no-fund', ...(flags.registry ? ['--registry', flags.registry] : [])],
        {
          cwd: projectDir,
          ...(onLine ? { onLine } : {}),
        },
      );
    const putBack = async () => {
      if (original.pjson) await writeFile(pjsonFile, original.pjson);
      if (original.lock) await writeFile(lockFile, original.lock);
    };
    // Put package.json and the lockfile back exactly as they were; run nobody's scripts doing it.
    const restore = async () => {
      await npm(['uninstall', pkg, '--ignore-scripts']);
      await putBack();
    };

    if (flags.install) {
      const bar = progress(
        `Installing ${pkg}`,
        (s) => process.stdout.write(s),
        Boolean(process.stdout.isTTY),
      );
      // Without scripts: nothing the package ships runs before its "cairn" field is checked.
      const result = await npm(['install', installSpec, '--ignore-scripts'], (line) => bar.update(line));
      if (result.code !== 0) {
        bar.done(`Could not install ${pkg}`);
        await putBack();
        const notFound = /E404|404 Not Found|is not in this registry/.test(result.stderr);
        const { scopeRegistryProblem } = await import('../lib/workspace');
        const scopeProblem =
          notFound && !flags.registry && !local ? scopeRegistryProblem(projectDir, pkg) : undefined;
        if (scopeProblem) throw usageError(scopeProblem.message, { hint: scopeProblem.hint });
        throw usageError(
          notFound
            ? `Unknown plugin "${args.plugin}": ${pkg} is not in the registry`
            : `npm install ${pkg} failed:\n${result.stderr.split('\n').slice(-10).join('\n')}`,
          {
            hint: notFound
              ? 'Check the name, or pass --registry for a private registry.'
              : 'Fix the npm problem and try again.',
          },
        );
      }
      bar.done(`Installed ${pkg} (scripts not run yet)`);
    }

    const installedFile = join(projectDir, 'node_modules', ...pkg.split('/'), 'package.json');
    if (!existsSync(installedFile))
      throw usageError(`${pkg} is not installed in ${projectDir}`, { hint: 'Run without --no-install.' });
    const installed = JSON.parse(await readFile(installedFile, 'utf8'));
    let manifest: import('../lib/plugins').PluginManifest;
    try {
      manifest = plugins.readManifest(pkg, installed.cairn);
    } catch (error) {
      if (flags.install) await restore();
      (error as { hint?: string }).hint += flags.install
        ? ' The package was uninstalled without running its scripts; nothing changed.'
        : '';
      throw error;
    }
    const coreRange = installed.peerDependencies?.['@cairn/core'];
    const coreFile = join(projectDir, 'node_modules', '@cairn', 'core', 'package.json');
    if (coreRange && existsSync(coreFile)) {
      const coreVersion = JSON.parse(await readFile(coreFile, 'utf8')).version as string;
      const { satisfies } = await import('../lib/semver');
      if (!satisfies(coreVersion, coreRange)) {
        if (flags.install) await restore();
        throw usageError(
          `${pkg}@${installed.version} needs @cairn/core ${coreRange}, but this project has ${coreVersion}`,
          {
            hint: `Upgrade @cairn/core, or install a version of ${pkg} built for ${coreVersion}. Nothing changed.`,
          },
        );
      }
    }

    const env = flags.env ?? (manifest.team ? plugins.TEAM_ENV : 'local');
    if (!/^[A-Za-z_$][\w$]*$/.test(env)) {
      if (flags.install) await restore();
      throw usageError(`--env "${env}" is not an environment name`, {
        hint: 'Use a plain identifier such as team, prod or ci (local: the base stack).',
      });
    }

    if (flags.install) {
      // The package is a plugin: now run the install scripts it and its new dependencies have.
      const added = addedPackages(original.lock, existsSync(lockFile) ? await readFile(lockFile) : undefined);
      const rebuilt =
        added?.length === 0 ? { code: 0, stderr: '' } : await npm(['rebuild', ...(added ?? [])]);
      if (rebuilt.code !== 0) {
        await restore();
        throw usageError(
          `${pkg}: its install scripts failed:\n${rebuilt.stderr.split('\n').slice(-10).join('\n')}`,
          {
            hint: 'Fix the problem (a native build needs a compiler), then run cairn add again. Nothing changed.',
          },
        );
      }
    }

    if (!plugins.STACK_KINDS.includes(manifest.kind as 'storage')) {
      this.log(
        `${pkg} is a ${manifest.kind} plugin: installed. Use it from your pipeline steps (see its README).`,
      );
      return;
    }
    const { addPluginToConfig } = await import('../lib/config-edit');
    const before = await readFile(configFile, 'utf8');
    const edit = addPluginToConfig(before, {
      kind: manifest.kind as 'storage',
      packageName: pkg,
      importName: manifest.factory,
      call: (indent) => plugins.pluginCall(manifest, indent),
      ...(env === 'local' || env === 'default' ? {} : { env }),
    });
    const temporary = `${configFile}.tmp-${process.pid}`;
    await writeFile(temporary, edit.source);
    await rename(temporary, configFile);
    const where = env === 'local' || env === 'default' ? 'the stack' : `env.${env}`;
    this.log(
      `Added ${pkg}@${installed.version} as the ${manifest.kind} of ${where} in ${configFile.slice(projectDir.length + 1)}`,
    );
    if (edit.replaced) this.log(`  (it replaces ${edit.replaced})`);
    if (manifest.env.length > 0) {
      const { mergeEnvExample } = await import('../lib/env-example');
      const file = join(projectDir, '.env.example');
      const previous = existsSync(file) ? await readFile(file, 'utf8') : '';
      const next = mergeEnvExample(previous, manifest.env);
      if (next !== previous) {
        await writeFile(`${file}.tmp-${process.pid}`, next);
        await rename(`${file}.tmp-${process.pid}`, file);
      }
      this.log(
        `  It reads ${manifest.env.map((v) => v.name).join(', ')} from the environment (listed in .env.example).`,
      );
      if (where !== 'the stack') this.log(`  Run on it with: cairn run --env ${env}`);
    } else {
      this.log(`  ${manifest.factory}() takes options: see the ${pkg} README.`);
    }
  }
}

/**
 * Names of the packages an install added, from the lockfile before and after
 * (`undefined`: no lockfile to compare, rebuild everything).
 */
function addedPackages(before: Buffer | undefined, after: Buffer | undefined): string[] | undefined {
  if (!before || !after) return undefined;
  const keys = (lock: Buffer) => Object.keys(JSON.parse(lock.toString('utf8')).packages ?? {});
  const known = new Set(keys(before));
  const names = keys(after)
    // Keys outside node_modules/ are the targets of file: links, named by their link's key.
    .filter((key) => key.includes('node_modules/') && !known.has(key))
    .map((key) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length));
  return [...new Set(names)];
}
