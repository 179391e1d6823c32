/**
 * Opening a project: its `cairn.config.ts`, the stack for one environment
 * with the embedded defaults filled in, and its pipeline modules. Everything
 * heavy (`@cairn/core`, SQLite) is imported here, lazily, so that loading a
 * command costs nothing until it runs.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type {
  AbTestDescriptor,
  CairnConfig,
  DeployerDescriptor,
  ExecutorDescriptor,
  MetadataStore,
  ModelLoader,
  Pipeline,
  StorageDriver,
} from '@cairn/core';
import { usageError } from './errors';

export const CONFIG_FILES = ['cairn.config.ts', 'cairn.config.mts', 'cairn.config.js', 'cairn.config.mjs'];

/** The nearest folder at or above `from` that holds a cairn config file. */
export function findProjectDir(from: string = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (CONFIG_FILES.some((name) => existsSync(join(dir, name)))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** `--project` or the nearest project; a usage error when there is none. */
export function requireProjectDir(flag: string | undefined): string {
  const dir = flag ? resolve(flag) : findProjectDir();
  if (!dir || !CONFIG_FILES.some((name) => existsSync(join(dir, name)))) {
    throw usageError(
      `No Cairn project here: no cairn.config.ts in ${dir ?? process.cwd()} or any folder above it`,
      {
        hint: 'Run the command inside a project, pass --project <dir>, or create one with `cairn new <dir>`.',
      },
    );
  }
  return dir;
}

/** A project's stack for one environment, ready to run. */
export interface OpenedStack {
  projectDir: string;
  env: string;
  config: CairnConfig;
  storage: StorageDriver;
  metadata: MetadataStore;
  executor: ExecutorDescriptor;
  /** The deployer and A/B engine of the environment, when it has them. */
  deployer?: DeployerDescriptor;
  abtest?: AbTestDescriptor;
  /** `serving.loaders` of cairn.config.ts: how bundles of each flavor are served. */
  loaders: Record<string, ModelLoader>;
  /** Absolute folder of step configs. */
  confDir: string;
  /** Absolute folder of pipeline modules. */
  pipelinesDir: string;
  /** Absolute folder of Cairn's local state (`.cairn`). */
  stateDir: string;
  close(): Promise<void>;
}

/**
 * Load `cairn.config.ts` and fill what it leaves out with the embedded
 * defaults: a local artifact folder and a SQLite metadata file under
 * `<project>/.cairn`, and the in-process executor.
 */
export async function openStack(projectDir: string, env = 'local'): Promise<OpenedStack> {
  const core = await import('@cairn/core');
  const loaded: any = await core.loadProjectConfig(projectDir);
  const config: CairnConfig =
    loaded && typeof loaded === 'object' && 'config' in loaded ? loaded.config : loaded;
  const stack = core.stackFor(config ?? {}, env);
  const stateDir = resolve(projectDir, config?.stateDir ?? '.cairn');
  const storage = stack.storage ?? core.localStore({ dir: join(stateDir, 'artifacts') });
  let metadata = stack.metadata;
  if (!metadata) {
    const { sqliteMetadata } = await import('@cairn/metadata-sqlite');
    metadata = sqliteMetadata({ file: join(stateDir, 'metadata.db') });
  }
  await metadata.init?.();
  const executor = stack.executor ?? core.inProcess();
  return {
    projectDir,
    env,
    config: config ?? {},
    storage,
    metadata,
    executor,
    ...(stack.deployer ? { deployer: stack.deployer } : {}),
    ...(stack.abtest ? { abtest: stack.abtest } : {}),
    loaders: config?.serving?.loaders ?? {},
    confDir: resolve(projectDir, config?.conf ?? 'conf'),
    pipelinesDir: resolve(projectDir, config?.pipelines ?? 'pipelines'),
    stateDir,
    async close() {
      await metadata.close?.();
      await storage.close?.();
    },
  };
}

/** What runs and plans lend to delivery steps: the deployer, the A/B engine, the loaders, the state folder. */
export function deliveryOptions(stack: OpenedStack) {
  return {
    ...(stack.deployer ? { deployer: stack.deployer } : {}),
    ...(stack.abtest ? { abtest: stack.abtest } : {}),
    loaders: stack.loaders,
    stateDir: stack.stateDir,
  };
}

const MODULE = /\.(?:[cm]?ts|[cm]?js)$/;
const NOT_MODULE = /\.(?:test|spec)\.[cm]?[jt]s$|\.d\.[cm]?ts$/;

/** Every pipeline exported by the modules in the pipelines folder, by name. */
export async function loadPipelines(pipelinesDir: string): Promise<Map<string, Pipeline>> {
  const core = await import('@cairn/core');
  const found = new Map<string, Pipeline>();
  if (!existsSync(pipelinesDir)) return found;
  const files = (await readdir(pipelinesDir)).filter((f) => MODULE.test(f) && !NOT_MODULE.test(f)).sort();
  for (const file of files) {
    const module = await core.importModule(join(pipelinesDir, file));
    for (const value of Object.values(module)) {
      if (core.isPipeline(value) && !found.has(value.name)) found.set(value.name, value);
    }
  }
  return found;
}

/** The pipeline `name` names, or the project's default (the configured one, else the only or first). */
export async function selectPipeline(stack: OpenedStack, name: string | undefined): Promise<Pipeline> {
  const { CairnError, ErrorCodes } = await import('@cairn/core');
  const pipelines = await loadPipelines(stack.pipelinesDir);
  const wanted = name ?? stack.config.defaultPipeline;
  if (pipelines.size === 0) {
    throw new CairnError(ErrorCodes.PIPELINE_NOT_FOUND, `No pipeline found in ${stack.pipelinesDir}`, {
      hint: 'Export a pipeline("name", () => { … }) from a module in pipelines/.',
    });
  }
  if (wanted === undefined) return [...pipelines.values()][0]!;
  const pipeline = pipelines.get(wanted);
  if (!pipeline) {
    throw new CairnError(ErrorCodes.PIPELINE_NOT_FOUND, `Unknown pipeline "${wanted}"`, {
      hint: `Known pipelines: ${[...pipelines.keys()].join(', ')}`,
    });
  }
  return pipeline;
}
