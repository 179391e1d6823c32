import { Flags } from '@oclif/core';
import { CairnCommand, envFlag } from '../lib/base';

export default class Ui extends CairnCommand {
  static override summary =
    'Open the dashboard: runs, pipeline graphs, artifacts and lineage, metrics, models, endpoints, experiments, drift';
  static override description =
    "Serves a local web dashboard over the project's stack (its metadata store and artifact storage, read through the same contracts as every command) until Ctrl-C. It binds 127.0.0.1; any other --host requires a token, read from the environment variable --token-env names. It changes nothing unless started with --actions, which enables promote, rollback and conclude (the same calls as `cairn registry promote`, `cairn endpoints rollback` and `cairn experiments conclude`).";
  static override examples = [
    '<%= config.bin %> ui',
    '<%= config.bin %> ui --port 8000 --env team',
    'CAIRN_UI_TOKEN=$(openssl rand -hex 24) <%= config.bin %> ui --host 0.0.0.0',
    '<%= config.bin %> ui --actions',
  ];
  static override flags = {
    env: envFlag,
    port: Flags.integer({
      description: 'Port to listen on (0: any free port)',
      default: 4300,
      min: 0,
      max: 65535,
    }),
    host: Flags.string({
      description: 'Address to bind; anything but 127.0.0.1 needs a token',
      default: '127.0.0.1',
    }),
    'token-env': Flags.string({
      description: 'Environment variable holding the token required off loopback',
      default: 'CAIRN_UI_TOKEN',
    }),
    actions: Flags.boolean({
      description: 'Allow promote, rollback and conclude from the pages (read-only without it)',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ui);
    const { openProjectFor } = await import('../lib/project');
    const { usageError } = await import('../lib/errors');
    const loopback = ['127.0.0.1', 'localhost', '::1'].includes(flags.host);
    const token = process.env[flags['token-env']] || undefined;
    if (!loopback && !token) {
      throw usageError(`--host ${flags.host} is not loopback: the dashboard needs a token there`, {
        hint: `Set ${flags['token-env']} to a long random value (e.g. \`openssl rand -hex 24\`); requests must then carry it.`,
      });
    }
    const stack = await openProjectFor(flags);
    const projectDir = stack.projectDir;
    const opened: Array<{ close(): Promise<void> }> = [];
    let stop: (() => void) | undefined;
    let ui: import('@cairn/ui').UiServer | undefined;
    try {
      const delivery = await import('../lib/delivery');
      // Pipeline definitions draw the steps a live run has not reached; a project whose modules do not load still gets its dashboard.
      const pipelines = await stack.pipelines().catch(() => undefined);
      const { startUi } = await import('@cairn/ui');
      const withAbTest = stack.abtest ? { ...stack, abtest: stack.abtest } : undefined;
      const start = startUi({
        metadata: stack.metadata,
        storage: stack.storage,
        stateDir: stack.stateDir,
        ...(stack.deployer
          ? {
              deployer: async () => {
                const deployer = await delivery.openDeployer(stack, 'control');
                opened.push(deployer);
                return deployer;
              },
            }
          : {}),
        ...(withAbTest
          ? {
              abtest: async () => {
                const engine = await delivery.openAbTest(withAbTest);
                opened.push(engine);
                return engine;
              },
            }
          : {}),
        ...(pipelines ? { pipelines } : {}),
        project: { name: (await projectName(projectDir)) ?? projectDir, env: flags.env, dir: projectDir },
        host: flags.host,
        port: flags.port,
        ...(token ? { token } : {}),
        actions: flags.actions,
        actor: process.env.USER ?? 'cairn-ui',
      });
      ui = await start.catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EADDRINUSE') throw error;
        throw usageError(`Port ${flags.port} on ${flags.host} is in use`, {
          hint: 'Pick another with --port (0: any free port).',
        });
      });
      this.log(
        `Cairn dashboard on ${ui.url}  (${flags.actions ? 'actions on' : 'read-only'}; Ctrl-C to stop)`,
      );
      const signal = await new Promise<string>((resolve) => {
        const onSignal = (name: string) => resolve(name);
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        stop = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        };
      });
      this.log(`${signal}: stopping`);
    } finally {
      stop?.();
      try {
        await ui?.close();
        for (const plugin of opened) await plugin.close();
      } finally {
        await stack.close();
      }
    }
  }
}

/** The project's package.json name, for the header. */
async function projectName(dir: string): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (JSON.parse(await readFile(`${dir}/package.json`, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}
