/**
 * The project stack: which storage, metadata store and executor a project
 * uses, per environment, and the deployer and A/B engine its delivery steps
 * use. Written in `cairn.config.ts` with `defineConfig`.
 */
import type { AbTestDescriptor } from './contracts/abtest';
import type { DeployerDescriptor, ModelLoader } from './contracts/deployer';
import type { ExecutorDescriptor } from './contracts/executor';
import type { MetadataStore } from './contracts/metadata';
import type { StorageDriver } from './contracts/storage';
import { CairnError, ErrorCodes } from './errors';

/** One environment's set of plugins. */
export interface Stack {
  /** Where artifact bytes live. @default localStore({ dir: '.cairn/artifacts' }) */
  storage?: StorageDriver;
  /** Where runs, lineage, cache and registry live. @default sqliteMetadata('.cairn/metadata.db') when installed, else memory */
  metadata?: MetadataStore;
  /** Where steps run. @default inProcess() */
  executor?: ExecutorDescriptor;
  /** Where registered model versions are served (canary, shadow, blue-green, rollback). No default: a project without one does not deploy. */
  deployer?: DeployerDescriptor;
  /** The A/B testing engine: assignment, exposure and outcome logging, analysis. No default. */
  abtest?: AbTestDescriptor;
}

/** The stack slots, each holding a plugin of the kind of the same name. */
export const STACK_SLOTS = ['storage', 'metadata', 'executor', 'deployer', 'abtest'] as const;

/** One of the stack's slots. */
export type StackSlot = (typeof STACK_SLOTS)[number];

export interface CairnConfig {
  /** The stack every environment starts from. */
  stack?: Stack;
  /** Per-environment overrides, merged over `stack` (`--env ci`). */
  env?: Record<string, Stack>;
  /** Folder of step configs (`<conf>/base/<step>.yaml`). @default 'conf' */
  conf?: string;
  /** Folder of pipeline modules. @default 'pipelines' */
  pipelines?: string;
  /** Pipeline `cairn run` runs without an argument. @default the only or first pipeline */
  defaultPipeline?: string;
  /** Folder for Cairn's local state (artifacts, metadata, scratch). @default '.cairn' */
  stateDir?: string;
  /**
   * How the project's model bundles are served: one loader per bundle
   * `flavor` (the function the project's tests use to serve a bundle without
   * the training code). The deployer, deploy steps and `cairn serve` use it.
   */
  serving?: { loaders: Record<string, ModelLoader> };
}

/**
 * Declare the project's config. Checks its shape so a typo fails here, with
 * the key named, rather than deep inside a run.
 *
 * @example
 * ```ts
 * export default defineConfig({
 *   stack: { storage: localStore({ dir: '.cairn/artifacts' }), metadata: sqliteMetadata({ file: '.cairn/metadata.db' }), executor: workerPool() },
 *   env: { ci: { executor: inProcess() } },
 * });
 * ```
 */
export function defineConfig(config: CairnConfig): CairnConfig {
  const problems: string[] = [];
  const known = new Set(['stack', 'env', 'conf', 'pipelines', 'defaultPipeline', 'stateDir', 'serving']);
  for (const key of Object.keys(config ?? {})) if (!known.has(key)) problems.push(`unknown key "${key}"`);
  if (config?.serving !== undefined) {
    const loaders = (config.serving as { loaders?: unknown })?.loaders;
    if (typeof loaders !== 'object' || loaders === null)
      problems.push('serving.loaders: expected { <flavor>: loader }');
    else
      for (const [flavor, loader] of Object.entries(loaders))
        if (typeof loader !== 'function')
          problems.push(
            `serving.loaders.${flavor}: expected a function (bundle) => predictor, got ${describe(loader)}`,
          );
  }
  const checkStack = (where: string, stack: Stack | undefined) => {
    if (stack === undefined) return;
    for (const [key, value] of Object.entries(stack)) {
      const kind = (STACK_SLOTS as readonly string[]).includes(key) ? key : undefined;
      if (!kind) problems.push(`${where}.${key}: unknown plugin slot (expected ${STACK_SLOTS.join(', ')})`);
      else if (value !== undefined && (value as { kind?: string })?.kind !== kind) {
        problems.push(`${where}.${key}: expected a ${kind} plugin, got ${describe(value)}`);
      }
    }
  };
  checkStack('stack', config?.stack);
  for (const [env, stack] of Object.entries(config?.env ?? {})) checkStack(`env.${env}`, stack);
  if (problems.length > 0) {
    throw new CairnError(
      ErrorCodes.STACK_INVALID,
      `cairn.config is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      {
        issues: problems.map((message) => ({ source: 'cairn.config', message })),
      },
    );
  }
  return config;
}

/** The stack for one environment: `env[name]` merged over `stack`. */
export function stackFor(config: CairnConfig, env: string): Stack {
  if (env !== 'local' && env !== 'default' && !config.env?.[env]) {
    const known = ['local', ...Object.keys(config.env ?? {})].join(', ');
    throw new CairnError(ErrorCodes.STACK_INVALID, `Unknown environment "${env}" (known: ${known})`);
  }
  return { ...config.stack, ...(config.env?.[env] ?? {}) };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object')
    return (value as { kind?: string }).kind ? `a ${(value as { kind: string }).kind} plugin` : 'an object';
  return typeof value;
}
