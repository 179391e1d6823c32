/**
 * Config resolution: step configs (conf/base + conf/<env> + --set, validated
 * by each step's schema), `${env:NAME}` secrets, and the project's
 * cairn.config.ts.
 */

export { findProjectRoot, loadProjectConfig, PROJECT_CONFIG_FILES } from '../project/config-file';
export { describeEnvProblem, type EnvProblem, envRefNames, hasEnvRefs, resolveEnvRefs } from './env';
export { type ConfigOverrides, parseOverrides } from './overrides';
export {
  type ConfigEntry,
  type ConfigExplanation,
  type ConfigSource,
  configEntries,
  explainConfig,
  type ResolvedConfigs,
  type ResolvedStepConfig,
  type ResolveStepConfigsOptions,
  resolveStepConfigs,
  type StepConfigRequest,
} from './resolve';
export { configFromStored } from './stored';
