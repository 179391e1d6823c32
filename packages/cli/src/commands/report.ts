import { Args, Flags } from '@oclif/core';
import { CairnCommand, envFlag, jsonFlag } from '../lib/base';

export default class Report extends CairnCommand {
  static override summary = "Show where a run's evaluation report is, open it, or print its Markdown summary";
  static override description =
    "Extracts the run's evaluation report (the `report` artifact of its evaluate step, else its last report) to .cairn/reports/<run>/index.html and prints the path; --step picks another step's report (extracted to .cairn/reports/<run>/<step>/). --open opens it with the system opener (xdg-open, open, start). --summary prints the Markdown summary CI writes: metrics and the promotion-gate decision.";
  static override examples = [
    '<%= config.bin %> report latest',
    '<%= config.bin %> report latest --open',
    '<%= config.bin %> report r_0mwyul89y00008cfa59e5 --step validate',
    '<%= config.bin %> report latest --summary',
    '<%= config.bin %> report latest --json',
  ];
  static override args = {
    run: Args.string({
      description: 'Run id, a unique prefix of one, latest or latest~N',
      default: 'latest',
    }),
  };
  static override flags = {
    step: Flags.string({
      char: 's',
      description: 'The step whose report to show (default: the evaluation report)',
    }),
    open: Flags.boolean({ description: 'Open the report with the system opener', default: false }),
    summary: Flags.boolean({
      description: 'Print the Markdown summary (metrics and gate decision) instead',
      default: false,
    }),
    json: jsonFlag,
    env: envFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Report);
    const { withProject } = await import('../lib/inspect');
    const runs = await import('../lib/runs');
    const { usageError } = await import('../lib/errors');
    if (flags.summary) {
      const out = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
        const run = await runs.resolveRun(stack, args.run);
        return { run: run.id, ...(await runs.runSummaryMarkdown(stack, run)) };
      });
      if (flags.json) return this.printJson(out);
      this.log(out.markdown.trimEnd());
      return;
    }
    const found = await withProject({ project: flags.project, env: flags.env }, async (stack) => {
      const run = await runs.resolveRun(stack, args.run);
      const reports = (await runs.runOutputs(stack, run)).filter((o) => o.ref.type === 'report');
      if (reports.length === 0) {
        throw usageError(`Run ${run.id} has no report artifact`, {
          code: 'CAIRN_ARTIFACT_NOT_FOUND',
          hint: 'A step writes one with outputs: { report: report() } (see reportHtml() in @cairn/core).',
        });
      }
      let chosen = flags.step
        ? reports.find((r) => r.step === flags.step)
        : (reports.find((r) => /evaluat/i.test(r.step)) ?? reports.at(-1));
      if (!chosen) {
        throw usageError(`Run ${run.id} has no report from step "${flags.step}"`, {
          code: 'CAIRN_ARTIFACT_NOT_FOUND',
          hint: `Steps with a report: ${[...new Set(reports.map((r) => r.step))].join(', ')}`,
        });
      }
      chosen = chosen!;
      const { join } = await import('node:path');
      const { rename, rm, readFile } = await import('node:fs/promises');
      const { existsSync } = await import('node:fs');
      const { materializeArtifact } = await import('@cairn/runtime');
      const isDefault =
        !flags.step || chosen === (reports.find((r) => /evaluat/i.test(r.step)) ?? reports.at(-1));
      const folder = isDefault
        ? join(stack.stateDir, 'reports', run.id)
        : join(stack.stateDir, 'reports', run.id, chosen.step);
      // Unpack beside the target, then swap it in: a reader never sees half a report.
      const partial = `${folder}.partial-${process.pid}`;
      await rm(partial, { recursive: true, force: true });
      await materializeArtifact(stack.storage, chosen.ref, 'tree', partial);
      const info = JSON.parse(await readFile(join(partial, 'report.json'), 'utf8')) as {
        format: 'html' | 'markdown';
        title?: string;
      };
      const index = info.format === 'html' ? 'index.html' : 'index.md';
      for (const name of ['report.json', 'index.html', 'index.md', 'assets']) {
        await rm(join(folder, name), { recursive: true, force: true });
      }
      const { mkdir, readdir } = await import('node:fs/promises');
      await mkdir(folder, { recursive: true });
      for (const name of await readdir(partial)) await rename(join(partial, name), join(folder, name));
      await rm(partial, { recursive: true, force: true });
      const path = join(folder, index);
      if (!existsSync(path)) throw usageError(`The report of ${chosen.step} has no ${index}`);
      return {
        run: run.id,
        step: chosen.step,
        digest: chosen.ref.digest,
        format: info.format,
        title: info.title,
        path,
      };
    });
    let opened: string | undefined;
    if (flags.open) opened = await openWithSystem(found.path);
    if (flags.json) return this.printJson({ ...found, ...(flags.open ? { opened: opened ?? null } : {}) });
    const { relative } = await import('node:path');
    const shown = relative(process.cwd(), found.path) || found.path;
    this.log(`${found.title ?? 'Report'} of run ${found.run} (step ${found.step}):`);
    this.log(`  ${shown.startsWith('..') ? found.path : shown}`);
    if (flags.open) {
      this.log(
        opened
          ? `  opened with ${opened}`
          : '  no system opener found (xdg-open, open, start): open the file in a browser',
      );
    }
  }
}

/** Open `path` with the platform's opener, detached; the opener's name, or undefined when there is none. */
async function openWithSystem(path: string): Promise<string | undefined> {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const { delimiter, join } = await import('node:path');
  const [command, ...prefix] =
    process.platform === 'darwin'
      ? ['open']
      : process.platform === 'win32'
        ? ['cmd', '/c', 'start', '""']
        : ['xdg-open'];
  if (process.platform !== 'win32') {
    const found = (process.env.PATH ?? '')
      .split(delimiter)
      .some((dir) => dir && existsSync(join(dir, command!)));
    if (!found) return undefined;
  }
  return new Promise((resolve) => {
    const child = spawn(command!, [...prefix, path], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(undefined));
    child.once('spawn', () => {
      child.unref();
      resolve(command);
    });
  });
}
