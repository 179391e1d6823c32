/**
 * The deploy step: after the gate, put the model version the registry holds
 * in a stage (production by default) behind an endpoint of the stack's
 * deployer, by a rollout strategy. Deploying is the last step of the
 * training pipeline, so CI that trains and gates also delivers.
 */
import { json } from '../artifacts/builtin';
import { type Deployment, ENDPOINT_NAME, type RolloutStrategy } from '../contracts/deployer';
import type { ModelStage } from '../contracts/metadata';
import { type Step, step } from '../step';
import type { GateDecision } from './gate';
import { schema } from './schema';

/** The deploy step's config (`conf/base/deploy.yaml`). */
export interface DeployConfig {
  /** Endpoint name (lowercase letters, digits, dashes). @default the model name */
  endpoint?: string;
  /** Deploy the version in this stage. @default 'production' */
  stage?: Extract<ModelStage, 'staging' | 'production'>;
  /** @default 'blue-green' */
  strategy?: RolloutStrategy['type'];
  /** For `canary`: the share of units the new version answers, 1–99. */
  percent?: number;
}

/** What the deploy step records. */
export interface DeployRecord {
  endpoint: string;
  model: string;
  /** The version that was meant to serve; absent when the registry has none in the stage. */
  version?: number;
  /** False when nothing changed: no version in the stage, or it already serves. */
  deployed: boolean;
  /** The endpoint's revision after the step. */
  revision?: number;
  strategy: RolloutStrategy['type'];
  url?: string;
  reason: string;
}

const strategies = ['blue-green', 'canary', 'shadow'] as const;

const deployConfig = schema<DeployConfig>((value, issues) => {
  if (
    value.endpoint !== undefined &&
    (typeof value.endpoint !== 'string' || !ENDPOINT_NAME.test(value.endpoint))
  )
    issues.push({
      path: ['endpoint'],
      message: 'expected lowercase letters, digits and dashes, starting with a letter (at most 63)',
    });
  if (value.stage !== undefined && value.stage !== 'production' && value.stage !== 'staging')
    issues.push({ path: ['stage'], message: 'expected "production" or "staging"' });
  if (value.strategy !== undefined && !strategies.includes(value.strategy as never))
    issues.push({ path: ['strategy'], message: 'expected "blue-green", "canary" or "shadow"' });
  const percent = value.percent;
  if (value.strategy === 'canary' && percent === undefined)
    issues.push({
      path: ['percent'],
      message: 'a canary needs percent: the share of units it answers, 1–99',
    });
  if (
    percent !== undefined &&
    (!Number.isInteger(percent) || (percent as number) < 1 || (percent as number) > 99)
  )
    issues.push({ path: ['percent'], message: 'expected an integer from 1 to 99' });
  return value as DeployConfig;
});

function strategyOf(config: DeployConfig): RolloutStrategy {
  const type = config.strategy ?? 'blue-green';
  return type === 'canary' ? { type, percent: config.percent! } : { type };
}

function describeRoutes(deployment: Deployment): string {
  return deployment.routes
    .map((r) => `v${r.model.version} ${r.role}${r.role === 'shadow' ? '' : ` ${r.weight}%`}`)
    .join(', ');
}

/**
 * A step that deploys the model version of a registry stage through the
 * stack's deployer. Its input is the gate's decision, so it runs after the
 * gate; it deploys whatever the stage holds (the gate's candidate when it
 * was promoted, production as it was when it was kept out), and changes
 * nothing when that version already serves. A rerun reuses the deployment
 * while the deployer still has the revision it made — a rollback an
 * operator made since is not undone by the next run.
 *
 * @example
 * ```yaml
 * # conf/base/deploy.yaml
 * endpoint: penguins
 * strategy: canary
 * percent: 10
 * ```
 */
export function deployModelStep(
  options: { name?: string } = {},
): Step<
  DeployConfig,
  { decision: ReturnType<typeof json<GateDecision>> },
  { deployment: ReturnType<typeof json<DeployRecord>> }
> {
  return step({
    name: options.name ?? 'deploy',
    description: 'Deploy the model version of a registry stage through the stack deployer',
    config: deployConfig,
    inputs: { decision: json<GateDecision>() },
    outputs: { deployment: json<DeployRecord>() },
    registry: true,
    deployer: true,
    async reuse({ outputs: { deployment }, config, registry, deployer }) {
      // Still right when the stage holds the same version, and the deployer
      // still knows the revision this step left (or, if it deployed nothing,
      // the endpoint is as it found it).
      const stage = await registry!.getModelByStage(deployment.model, config.stage ?? 'production');
      if (deployment.version !== undefined && stage && stage.version !== deployment.version) return false;
      if (deployment.revision === undefined) return true;
      const history = await deployer!.history(deployment.endpoint);
      return history.some((r) => r.revision === deployment.revision);
    },
    async run({ config, inputs, registry, deployer, log }) {
      const model = inputs.decision.model;
      const endpoint = config.endpoint ?? model;
      const stageName = config.stage ?? 'production';
      const strategy = strategyOf(config);
      const version = await registry!.getModelByStage(model, stageName);
      if (!version) {
        const reason = `no version of ${model} is in ${stageName}: nothing to deploy`;
        log.warn(reason);
        return { deployment: { endpoint, model, deployed: false, strategy: strategy.type, reason } };
      }
      const current = await deployer!.status(endpoint);
      const live = current?.routes.find(
        (r) => r.model.model === model && r.model.version === version.version,
      );
      if (current && live) {
        const reason = `${model} v${version.version} already serves ${endpoint} as ${live.role} (revision ${current.revision}): ${describeRoutes(current)}`;
        log.info(reason);
        return {
          deployment: {
            endpoint,
            model,
            version: version.version,
            deployed: false,
            revision: current.revision,
            strategy: strategy.type,
            ...(current.url ? { url: current.url } : {}),
            reason,
          },
        };
      }
      const deployment = await deployer!.deploy({
        endpoint,
        model: { model, version: version.version, digest: version.digest },
        // The first version of an endpoint has nothing to canary against.
        strategy: current ? strategy : { type: 'blue-green' },
        reason: `${stageName} version after gate: ${inputs.decision.reason}`,
      });
      const reason = `${endpoint} revision ${deployment.revision}: ${describeRoutes(deployment)}`;
      log.info(
        `deployed ${model} v${version.version} → ${reason}`,
        deployment.url ? { url: deployment.url } : {},
      );
      return {
        deployment: {
          endpoint,
          model,
          version: version.version,
          deployed: true,
          revision: deployment.revision,
          strategy: current ? strategy.type : 'blue-green',
          ...(deployment.url ? { url: deployment.url } : {}),
          reason,
        },
      };
    },
  });
}
