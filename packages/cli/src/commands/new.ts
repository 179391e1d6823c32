import { Args, Flags } from '@oclif/core';
import { CairnCommand } from '../lib/base';

export default class New extends CairnCommand {
  static override summary =
    'Scaffold a team project (or a plugin package) with MLOps practices preconfigured';
  static override description =
    'Renders a template from templates/ into <dir>, installs dependencies, makes a first git commit and prints the next commands. On a terminal it asks for what the flags did not say; without one it never waits for input.';
  static override examples = [
    '<%= config.bin %> new churn-model',
    '<%= config.bin %> new churn-model --plugins metadata-postgres,storage-s3 --yes',
    '<%= config.bin %> new churn-model --template python',
    '<%= config.bin %> new churn-model --registry http://127.0.0.1:4873 --no-git',
    '<%= config.bin %> new churn-model --registry https://npm.acme.internal --scope @acme',
    '<%= config.bin %> new storage-gcs --template plugin --kind storage --name @acme/storage-gcs',
    '<%= config.bin %> new deploy-kserve --template plugin --kind deployer --name @acme/deploy-kserve',
    '<%= config.bin %> new demo --link --dry-run',
    '<%= config.bin %> new mpg --data cars.csv --target mpg',
    '<%= config.bin %> new weather --data https://example.com/weather.csv --target weather --time-column date --window 730d',
  ];
  static override args = {
    dir: Args.string({ description: 'Folder to create (its name is the package name unless --name)' }),
  };
  static override flags = {
    template: Flags.string({
      char: 't',
      description:
        'Template: project-tabular (default; short name tabular), project-python (python: the steps are Python scripts, the model a scikit-learn one served by a Python worker) or plugin',
    }),
    name: Flags.string({ description: 'Package name (default: the folder name)' }),
    plugins: Flags.string({
      description: 'Plugins to add, comma-separated: metadata-postgres,storage-s3,@acme/storage-gcs',
    }),
    kind: Flags.string({
      description: 'Plugin kind, for --template plugin',
      options: ['storage', 'metadata', 'executor', 'deployer', 'abtest'],
    }),
    registry: Flags.string({
      description: 'npm registry URL the @cairn packages are installed from (written to .npmrc)',
    }),
    scope: Flags.string({
      description:
        "Your team's npm scope, e.g. @acme: its packages come from --registry too (a second .npmrc line)",
      dependsOn: ['registry'],
    }),
    install: Flags.boolean({
      description: 'Install dependencies (--no-install to skip)',
      default: true,
      allowNo: true,
    }),
    git: Flags.boolean({
      description: 'git init and make a first commit (--no-git to skip)',
      default: true,
      allowNo: true,
    }),
    'dry-run': Flags.boolean({
      description: 'Print the files that would be created; write nothing',
      default: false,
    }),
    force: Flags.boolean({
      description: 'Write into a non-empty folder, replacing files with the same names',
      default: false,
    }),
    yes: Flags.boolean({
      char: 'y',
      description: 'Ask nothing: take the defaults for what flags did not say',
      default: false,
    }),
    data: Flags.string({
      description:
        'Build the project around this data set: a CSV or JSON file, or an http(s) URL of one (default: the penguins sample)',
    }),
    target: Flags.string({ description: 'With --data: the column the model predicts' }),
    task: Flags.string({
      description: 'With --data: classification or regression (default: inferred from the target)',
      options: ['classification', 'regression'],
    }),
    'time-column': Flags.string({
      description: 'With --data: a date column; the test split is then the latest rows',
    }),
    window: Flags.string({
      description: 'With --time-column: train on the rows of the last <duration> only (730d, 12w, 36h)',
    }),
    link: Flags.boolean({
      description: 'Depend on this Cairn checkout (file: links to its packages) instead of a registry',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(New);
    const { basename, resolve, relative } = await import('node:path');
    const { usageError } = await import('../lib/errors');
    const { ask, interactive } = await import('../lib/prompt');
    const { npmNameProblems, nameForms } = await import('../lib/names');
    const scaffold = await import('../lib/scaffold');
    const plugins = await import('../lib/plugins');
    const workspace = await import('../lib/workspace');
    const asking = interactive() && !flags.yes;
    const scaffoldError = (message: string, hint?: string) =>
      usageError(message, { code: 'CAIRN_SCAFFOLD_INVALID', ...(hint ? { hint } : {}) });

    // Everything is decided and checked before the first byte is written.
    const dirArg = args.dir ?? (asking ? await ask('Project folder?', 'my-cairn-project') : undefined);
    if (!dirArg) throw usageError('Missing the folder to create', { hint: 'Usage: cairn new <dir>' });
    const target = resolve(dirArg);
    const packageName =
      flags.name ?? (args.dir || !asking ? basename(target) : await ask('Package name?', basename(target)));
    const problems = npmNameProblems(packageName);
    if (problems.length > 0) {
      throw scaffoldError(
        `Invalid project name "${packageName}": ${problems.join('; ')}`,
        'Use lowercase letters, digits and dashes (npm package naming rules), or pass --name.',
      );
    }
    const templateName = scaffold.templateName(
      flags.template ??
        (asking
          ? await ask(`Template (${(await scaffold.listTemplates()).join(', ')})?`, 'project-tabular')
          : 'project-tabular'),
    );
    const templateDir = await scaffold.templateDir(templateName);
    const isPlugin = templateName === 'plugin';

    const link = flags.link ? workspace.monorepoPackages() : undefined;
    if (flags.link && !link)
      throw usageError('--link works only when the CLI runs from a Cairn monorepo checkout');

    let kind = flags.kind;
    if (isPlugin && !kind)
      kind = asking ? await ask(`Plugin kind (${plugins.STACK_KINDS.join(', ')})?`, 'storage') : 'storage';
    if (isPlugin && !plugins.STACK_KINDS.includes(kind as 'storage')) {
      throw scaffoldError(`Unknown plugin kind "${kind}"`, `Use ${plugins.STACK_KINDS.join(', ')}.`);
    }
    const pluginInput =
      flags.plugins ??
      (asking && !isPlugin ? await ask('Plugins to add (comma-separated, empty for none)?', '') : '');
    const chosen = pluginInput
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((input) => {
        const resolved = plugins.resolvePluginName(input);
        if (!resolved) throw scaffoldError(`Unknown plugin "${input}"`, plugins.PLUGIN_NAME_HINT);
        return resolved;
      });
    if (flags.scope !== undefined && !workspace.SCOPE.test(flags.scope)) {
      throw usageError(`--scope "${flags.scope}" is not an npm scope`, { hint: 'Write it as @acme.' });
    }
    if (isPlugin && chosen.length > 0)
      throw usageError('--plugins is for project templates, not the plugin template');

    // The team's own data: read and profiled before anything is written; bad flags change nothing.
    const dataInput =
      flags.data ??
      // Only project-tabular is built around a data set: the others are not asked for one.
      (asking && templateName === 'project-tabular'
        ? await ask('Data set (CSV/JSON file or URL; empty for the penguins sample)?', '')
        : '');
    for (const flag of ['target', 'task', 'time-column', 'window'] as const) {
      if (flags[flag] !== undefined && dataInput === '')
        throw scaffoldError(
          `--${flag} is for a project built around --data`,
          'Pass --data <file or URL> too.',
        );
    }
    let dataset:
      | {
          source: import('../lib/infer').DataSource;
          plan: import('../lib/infer').DataPlan;
          files: Record<string, string>;
        }
      | undefined;
    if (dataInput !== '') {
      if (templateName !== 'project-tabular')
        throw scaffoldError(`--data works with the project-tabular template, not ${templateName}`);
      const infer = await import('../lib/infer');
      const source = await infer.readDataSource(dataInput);
      const profile = await infer.profileData(source);
      const columns = profile.columns.map((c) => c.name);
      const targetColumn =
        flags.target ??
        (asking ? await ask(`Target column (${columns.join(', ')})?`, columns.at(-1)!) : undefined);
      if (!targetColumn) {
        throw scaffoldError(
          '--data needs --target <column>',
          `Columns of ${dataInput}: ${columns.join(', ')}`,
        );
      }
      let task = flags.task;
      if (!task && asking) {
        const guess = infer.planFromProfile(profile, { target: targetColumn }).task;
        task = await ask('Task (classification or regression)?', guess);
      }
      const plan = infer.planFromProfile(profile, {
        target: targetColumn,
        task,
        timeColumn: flags['time-column'],
        window: flags.window,
      });
      dataset = {
        source,
        plan,
        files: infer.configFiles(profile, plan, source, nameForms(packageName).kebab),
      };
    }

    const existing = await scaffold.existingEntries(target);
    if (existing.length > 0 && !flags.force) {
      throw scaffoldError(
        `${dirArg} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''})`,
        'Choose an empty or new folder, or pass --force to write into it.',
      );
    }

    const name = nameForms(packageName);
    const spec = (pkg: string) => workspace.cairnSpec(pkg, link);
    // Installing from a registry: make sure Cairn is there before writing anything.
    if (flags.install && !link && !flags['dry-run']) {
      const problem = await workspace.cairnRegistryProblem(
        spec('@cairn/core'),
        flags.registry,
        process.cwd(),
      );
      if (problem) throw usageError(problem.message, { hint: problem.hint });
    }
    // Each plugin's "cairn" field says how it is wired: read from a Cairn checkout the CLI runs in
    // (ours, same versions), else asked of the registry.
    const manifests = new Map<string, import('../lib/plugins').PluginManifest>();
    const checkout = link ?? (chosen.some((p) => p.short) ? workspace.monorepoPackages() : undefined);
    for (const p of chosen) {
      const entry = checkout?.get(p.package);
      const field = entry
        ? JSON.parse((await import('node:fs')).readFileSync(resolve(entry.dir, 'package.json'), 'utf8')).cairn
        : await workspace.publishedCairnField(
            p.package,
            p.short ? spec(p.package) : 'latest',
            flags.registry,
          );
      if (field === undefined && !p.short) continue; // not reachable now: installed, wired by `cairn add` later
      if (field === undefined) {
        throw usageError(`Could not read ${p.package}'s "cairn" field from the registry`, {
          hint: 'Pass --registry <url> for the registry your Cairn packages are published to, or --link. Nothing was written.',
        });
      }
      manifests.set(p.package, plugins.readManifest(p.package, field));
    }
    // `@acme/storage-gcs` → id `gcs`; deployers are often named `deploy-…`.
    const kindPrefix = new RegExp(`^(${kind}${kind === 'deployer' ? '|deploy' : ''})-`);
    const id = isPlugin ? name.kebab.replace(kindPrefix, '') || name.kebab : undefined;
    const data = {
      name,
      template: templateName,
      link: Boolean(link),
      registry: flags.registry ?? '',
      registryLines: workspace.registryLines(flags.registry, flags.scope),
      cairn: {
        core: spec('@cairn/core'),
        runtime: spec('@cairn/runtime'),
        delivery: spec('@cairn/delivery'),
        cli: spec('@cairn/cli'),
        metadataSqlite: spec('@cairn/metadata-sqlite'),
        tabular: spec('@cairn/tabular'),
        testkit: spec('@cairn/testkit'),
        // The plugin template's deployer and A/B starters build on the embedded ones.
        deployLocal: spec('@cairn/deploy-local'),
        abtestLocal: spec('@cairn/abtest-local'),
      },
      libraries: workspace.TEMPLATE_LIBRARIES,
      plugins: chosen
        // The project template already has these, in its base stack.
        .filter((p) => !['metadata-sqlite', 'deploy-local', 'abtest-local'].includes(p.short ?? ''))
        .map((p) => {
          const manifest = manifests.get(p.package);
          const wired =
            manifest && plugins.STACK_KINDS.includes(manifest.kind as 'storage') ? manifest : undefined;
          return {
            package: p.package,
            spec: p.short ? spec(p.package) : 'latest',
            kind: wired?.kind,
            factory: wired?.factory,
            // Shared backends go to env.team; the rest (a deployer, an A/B engine) to the base stack.
            team: wired?.team ?? false,
            // Indented for its place in cairn.config.ts: env.team.<kind> or stack.<kind>.
            call: wired ? plugins.pluginCall(wired, wired.team ? '      ' : '    ') : undefined,
            env: wired?.env ?? [],
          };
        }),
      kind,
      id,
      factory: isPlugin ? plugins.factoryName(kind!, id!) : undefined,
    };
    const { mergeEnvExample } = await import('../lib/env-example');
    let files = await scaffold.renderTemplate(templateDir, {
      ...data,
      dataset: dataset ? { ...dataset.plan, file: `data/${dataset.source.fileName}` } : undefined,
      envExample: mergeEnvExample(
        '',
        data.plugins.flatMap((p) => p.env),
      ),
    });
    if (dataset)
      files = scaffold.withDataset(
        files,
        dataset.files,
        `data/${dataset.source.fileName}`,
        dataset.source.bytes,
      );
    const where = relative(process.cwd(), target) || '.';

    if (flags['dry-run']) {
      this.log(`Would create ${where}/ from template ${templateName} (${files.length} files):`);
      this.log(scaffold.formatTree(files.map((f) => f.path)));
      this.log('Dry run: nothing was written.');
      return;
    }

    this.log(`Creating ${where}/ from template ${templateName}:`);
    this.log(scaffold.formatTree(files.map((f) => f.path)));
    // A folder this command made is removed again when installing fails: no half-made project is left.
    const { existsSync, rmSync } = await import('node:fs');
    const madeHere = !existsSync(target);
    await scaffold.writeFiles(target, files);

    const { runProcess, progress, NPM } = await import('../lib/proc');
    const tty = Boolean(process.stdout.isTTY);
    const write = (s: string) => process.stdout.write(s);
    if (flags.install) {
      const extra = data.plugins.filter((p) => p.spec === 'latest').map((p) => p.package);
      const bar = progress('Installing dependencies', write, tty);
      const result = await runProcess(NPM, ['install', '--no-audit', '--no-fund', ...extra], {
        cwd: target,
        onLine: (line) => bar.update(line),
      });
      if (result.code !== 0) {
        bar.done('npm install failed');
        if (madeHere) rmSync(target, { recursive: true, force: true });
        this.error(`npm install failed in ${where}:\n${result.stderr.split('\n').slice(-15).join('\n')}`, {
          exit: 1,
          suggestions: [
            madeHere
              ? `Fix the problem and run cairn new again (${where} was removed). --link or --registry <url> choose where @cairn packages come from.`
              : `Fix the problem, then run \`npm install\` in ${where}.`,
          ],
        });
      }
      bar.done('Installed dependencies');
    }
    if (flags.git) {
      const git = (...gitArgs: string[]) => runProcess('git', gitArgs, { cwd: target });
      if ((await git('rev-parse', '--is-inside-work-tree')).code === 0 && !existsSync(`${target}/.git`)) {
        this.log('Inside an existing git repository: skipped git init.');
      } else {
        const identity =
          (await git('config', 'user.email')).code === 0
            ? []
            : ['-c', 'user.name=Cairn', '-c', 'user.email=cairn@localhost'];
        const steps = [
          ['init', '-q'],
          ['add', '-A'],
          [...identity, 'commit', '-q', '-m', `Scaffold ${packageName} with cairn new (${templateName})`],
        ];
        let ok = true;
        for (const step of steps) {
          const result = await git(...step);
          if (result.code !== 0) {
            this.warn(`git ${step.join(' ')} failed: ${result.stderr.trim()}`);
            ok = false;
            break;
          }
        }
        if (ok) this.log('Initialized a git repository with a first commit.');
      }
    }

    this.log('\nNext:');
    this.log(`  cd ${where}`);
    if (!flags.install) this.log('  npm install');
    if (isPlugin) {
      this.log('  npm test                 # the conformance suite from @cairn/testkit');
      this.log('  npx changeset            # describe the change, then publish with changesets');
    } else {
      if (templateName === 'project-python') {
        this.log('  pip install -r requirements.txt   # or apt-get install python3-sklearn python3-pandas');
      }
      this.log(
        `  npx cairn run            # run the pipeline on ${dataset ? `data/${dataset.source.fileName}` : 'the sample data'}`,
      );
      this.log('  npx cairn runs           # what ran, and what was cached');
      this.log('  npx cairn serve          # the deployed model on http://127.0.0.1:8080');
      this.log('  npm test                 # the step tests');
      this.log('  npx cairn doctor         # your MLOps level and what to add next');
    }
  }
}
