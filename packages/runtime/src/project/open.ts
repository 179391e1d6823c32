/**
 * One way to open a project, for every front end (the CLI, tests, benches,
 * the dashboard): find its root, load `cairn.config.ts`, fill the stack for
 * one environment with the embedded defaults, and find its pipelines.
 * Every path resolves against the project root, never the current folder,
 * so `cd steps && cairn run` uses the same store and history as the root.
 */

import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type AbTestDescriptor,
  type CairnConfig,
  CairnError,
  type DeployerDescriptor,
  ErrorCodes,
  type ExecutorDescriptor,
  isPipeline,
  type MetadataStore,
  type ModelLoader,
  type Pipeline,
  type StorageDriver,
  stackFor,
} from '@cairn/core';
import { inProcess } from '../executors/in-process';
import { importModule } from '../load';
import { prefetchProvenance } from '../orchestrator/provenance';
import { stateDirOf } from '../state-dir';
import { localStore } from '../storage/local';
import { findProjectRoot, loadProjectConfig } from './config-file';

/** A project's stack for one environment, with its folders, ready to run. */
export interface OpenedProject {
  /** The project root: the folder of `cairn.config.ts`. */
  projectDir: string;
  env: string;
  config: CairnConfig;
  storage: StorageDriver;
  metadata: MetadataStore;
  executor: ExecutorDescriptor;
  /** The environment's deployer, when it has one. */
  deployer?: DeployerDescriptor;
  /** The environment's A/B engine, when it has one. */
  abtest?: AbTestDescriptor;
  /** `serving.loaders` of cairn.config.ts: how bundles of each flavor are served. */
  loaders: Record<string, ModelLoader>;
  /** Absolute folder of step configs. */
  confDir: string;
  /** Absolute folder of pipeline modules. */
  pipelinesDir: string;
  /** Absolute folder of Cairn's local state (`.cairn`). */
  stateDir: string;
  /** Every pipeline the project's pipeline modules export, by name. */
  pipelines(): Promise<Map<string, Pipeline>>;
  /** The pipeline `name` names, or the project's default (`defaultPipeline`, else the first). */
  pipeline(name?: string): Promise<Pipeline>;
  /** The options every run and plan of this project shares (stack, folders, lent services). */
  runOptions(): ProjectRunOptions;
  close(): Promise<void>;
}

/** The part of `RunOptions` a project decides. */
export interface ProjectRunOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  executor: ExecutorDescriptor;
  env: string;
  projectDir: string;
  confDir: string;
  stateDir: string;
  tmpDir: string;
  loaders: Record<string, ModelLoader>;
  deployer?: DeployerDescriptor;
  abtest?: AbTestDescriptor;
}

export interface OpenProjectOptions {
  /** Environment: `env[name]` of cairn.config.ts merged over `stack`. @default 'local' */
  env?: string;
  /** Only find the root from `dir`; do not look in parent folders. @default false */
  exact?: boolean;
}

/**
 * Open the project at or above `dir`.
 *
 * Embedded defaults fill what the stack leaves out: a local artifact folder
 * and a SQLite metadata file (`@cairn/metadata-sqlite`, when installed)
 * under `<root>/.cairn`, and the in-process executor.
 *
 * @throws CairnError `CAIRN_STACK_INVALID` when no project is found, its
 * config is invalid, or the environment is unknown.
 * @example
 * ```ts
 * const project = await openProject(process.cwd(), { env: 'ci' });
 * const result = await runPipeline(await project.pipeline(), project.runOptions());
 * await project.close();
 * ```
 */
export async function openProject(dir: string, options: OpenProjectOptions = {}): Promise<OpenedProject> {
  const env = options.env ?? 'local';
  const projectDir = options.exact ? resolve(dir) : await findProjectRoot(dir);
  if (!projectDir) {
    throw new CairnError(
      ErrorCodes.STACK_INVALID,
      `No Cairn project here: no cairn.config.ts in ${resolve(dir)} or any folder above it`,
      {
        hint: 'Run the command inside a project, pass --project <dir>, or create one with `cairn new <dir>`.',
      },
    );
  }
  const { config } = await loadProjectConfig(projectDir);
  const stack = stackFor(config, env);
  const stateDir = stateDirOf(projectDir, config.stateDir);
  const storage = stack.storage ?? localStore({ dir: join(stateDir, 'artifacts') });
  const metadata = stack.metadata ?? (await embeddedMetadata(projectDir, join(stateDir, 'metadata.db')));
  await metadata.init?.();
  const executor = stack.executor ?? inProcess();
  const loaders = config.serving?.loaders ?? {};
  const confDir = resolve(projectDir, config.conf ?? 'conf');
  const pipelinesDir = resolve(projectDir, config.pipelines ?? 'pipelines');
  let pipelines: Promise<Map<string, Pipeline>> | undefined;
  const project: OpenedProject = {
    projectDir,
    env,
    config,
    storage,
    metadata,
    executor,
    ...(stack.deployer ? { deployer: stack.deployer } : {}),
    ...(stack.abtest ? { abtest: stack.abtest } : {}),
    loaders,
    confDir,
    pipelinesDir,
    stateDir,
    pipelines: () => {
      // Loading the pipelines is what comes before a run: the run's git state is read meanwhile.
      if (!pipelines) prefetchProvenance(projectDir, stateDir);
      pipelines ??= loadPipelines(pipelinesDir, projectDir);
      return pipelines;
    },
    pipeline: async (name) =>
      selectPipeline(await project.pipelines(), name ?? config.defaultPipeline, pipelinesDir),
    runOptions: () => ({
      storage,
      metadata,
      executor,
      env,
      projectDir,
      confDir,
      stateDir,
      tmpDir: join(stateDir, 'tmp'),
      loaders,
      ...(stack.deployer ? { deployer: stack.deployer } : {}),
      ...(stack.abtest ? { abtest: stack.abtest } : {}),
    }),
    async close() {
      await metadata.close?.();
      await storage.close?.();
    },
  };
  return project;
}

/**
 * The embedded metadata store: `@cairn/metadata-sqlite`, resolved from the
 * project first (a plugin the project installed), then from Cairn's own
 * installation. The runtime does not depend on the plugin, so that the
 * plugin can depend on the runtime's plugin kit.
 */
async function embeddedMetadata(projectDir: string, file: string): Promise<MetadataStore> {
  const name = '@cairn/metadata-sqlite';
  let target: string | undefined;
  for (const from of [join(projectDir, 'package.json'), import.meta.url]) {
    try {
      target = createRequire(from).resolve(name);
      break;
    } catch {}
  }
  if (!target) {
    try {
      target = import.meta.resolve(name);
    } catch {
      throw new CairnError(
        ErrorCodes.STACK_INVALID,
        'The stack names no metadata store and the embedded one (@cairn/metadata-sqlite) is not installed',
        { hint: 'Run `npm install @cairn/metadata-sqlite`, or name a metadata store in cairn.config.ts.' },
      );
    }
  }
  const module = await import(target.startsWith('file:') ? target : pathToFileURL(target).href);
  return module.sqliteMetadata({ file }) as MetadataStore;
}

const MODULE = /\.(?:[cm]?ts|[cm]?js)$/;
const NOT_MODULE = /\.(?:test|spec)\.[cm]?[jt]s$|\.d\.[cm]?ts$/;

/**
 * Every pipeline exported by the modules in the pipelines folder, by name.
 * @throws CairnError `CAIRN_PIPELINE_INVALID` when two modules export
 * different pipelines under one name: one would silently shadow the other.
 */
export async function loadPipelines(
  pipelinesDir: string,
  projectDir = pipelinesDir,
): Promise<Map<string, Pipeline>> {
  const found = new Map<string, { pipeline: Pipeline; file: string }>();
  if (!existsSync(pipelinesDir)) return new Map();
  const files = (await readdir(pipelinesDir)).filter((f) => MODULE.test(f) && !NOT_MODULE.test(f)).sort();
  for (const file of files) {
    const module = await importModule(join(pipelinesDir, file));
    for (const value of Object.values(module)) {
      if (!isPipeline(value)) continue;
      const seen = found.get(value.name);
      if (seen && seen.pipeline !== value) {
        const where = (f: string) => relative(projectDir, join(pipelinesDir, f));
        throw new CairnError(
          ErrorCodes.PIPELINE_INVALID,
          `Two pipelines are named "${value.name}": one in ${where(seen.file)}, one in ${where(file)}`,
          { hint: 'Give each pipeline its own name: pipeline("<name>", …).' },
        );
      }
      if (!seen) found.set(value.name, { pipeline: value, file });
    }
  }
  return new Map([...found].map(([name, entry]) => [name, entry.pipeline]));
}

/** The pipeline `wanted` names, else the first; a coded error naming the known ones. */
export function selectPipeline(
  pipelines: Map<string, Pipeline>,
  wanted: string | undefined,
  pipelinesDir: string,
): Pipeline {
  if (pipelines.size === 0) {
    throw new CairnError(ErrorCodes.PIPELINE_NOT_FOUND, `No pipeline found in ${pipelinesDir}`, {
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
