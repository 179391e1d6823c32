/**
 * The deploy step: after the gate, put the model version the registry holds
 * in a stage (production by default) behind an endpoint of the stack's
 * deployer, by a rollout strategy. Deploying is the last step of the
 * training pipeline, so CI that trains and gates also delivers.
 */
import {
  type AbTestEngine,
  canaryExperimentFor,
  type Deployer,
  type Deployment,
  type DeployRequest,
  ENDPOINT_NAME,
  json,
  type MetricDefinition,
  type ModelStage,
  type RolloutStrategy,
  type Step,
  step,
} from '@cairn/core';
import type { GateDecision } from './gate';
import { checkEndpoint, schema } from './schema';

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
  /**
   * For `canary`, when the stack has an A/B engine: the metric its
   * experiment judges the canary on (outcomes posted to the model server).
   * @default { name: 'success', type: 'binomial', goal: 'increase' }
   */
  metric?: MetricDefinition;
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
  /** The A/B experiment that judges the canary, when one was created. */
  experiment?: string;
  reason: string;
}

const strategies = ['blue-green', 'canary', 'shadow'] as const;

/** The metric a canary is judged on when its deploy names none. */
const DEFAULT_CANARY_METRIC: MetricDefinition = {
  name: 'success',
  type: 'binomial',
  goal: 'increase',
};

/**
 * The deploy action, one function for the deploy step and `cairn deploy`:
 * put a model version behind an endpoint, and when it goes out as a canary
 * and an A/B engine is at hand, create the experiment that judges it (named
 * after the revision that set the split).
 */
export async function deployVersion(
  deployer: Deployer,
  request: DeployRequest,
  options: { abtest?: AbTestEngine | undefined; metric?: MetricDefinition | undefined } = {},
): Promise<{ deployment: Deployment; experiment?: string }> {
  const deployment = await deployer.deploy(request);
  const experiment =
    options.abtest && request.strategy?.type === 'canary'
      ? await createCanaryExperiment(
          options.abtest,
          deployer,
          request.endpoint,
          options.metric ?? DEFAULT_CANARY_METRIC,
        )
      : undefined;
  return { deployment, ...(experiment ? { experiment } : {}) };
}

/**
 * Create the experiment that judges the endpoint's current canary
 * ({@link canaryExperimentFor}): its seed and variant order make the
 * engine's assignment the deployer's canary routing (GrowthBook hashing,
 * canary first), so exposures recorded by the server are the units' real
 * arms. For a canary that already has its experiment, a no-op.
 * @returns the experiment name, or undefined when the endpoint has no canary
 */
export async function createCanaryExperiment(
  abtest: AbTestEngine,
  deployer: Deployer,
  endpoint: string,
  metric: MetricDefinition,
): Promise<string | undefined> {
  const current = canaryExperimentFor(await deployer.history(endpoint));
  if (!current) return undefined;
  const { name, canary, primary } = current;
  await abtest.createExperiment({
    name,
    seed: endpoint,
    hashVersion: 2,
    variants: [
      { name: `v${canary.model.version}`, weight: canary.weight, payload: canary.model },
      { name: `v${primary.model.version}`, weight: primary.weight, payload: primary.model },
    ],
    control: `v${primary.model.version}`,
    primaryMetric: metric,
  });
  return name;
}

const deployConfig = schema<DeployConfig>(
  ['endpoint', 'stage', 'strategy', 'percent', 'metric'],
  (value, issues) => {
    checkEndpoint(value, issues);
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
    const metric = value.metric as Partial<MetricDefinition> | undefined;
    if (metric !== undefined) {
      if (typeof metric !== 'object' || metric === null || typeof metric.name !== 'string' || !metric.name)
        issues.push({
          path: ['metric', 'name'],
          message: 'expected the outcome metric name, e.g. "success"',
        });
      else {
        if (metric.type !== 'binomial' && metric.type !== 'continuous')
          issues.push({ path: ['metric', 'type'], message: 'expected "binomial" or "continuous"' });
        if (metric.goal !== 'increase' && metric.goal !== 'decrease')
          issues.push({ path: ['metric', 'goal'], message: 'expected "increase" or "decrease"' });
      }
    }
    return value as DeployConfig;
  },
);

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
    // With an A/B engine in the stack, a canary gets an experiment that judges it.
    uses: ['registry', 'deployer', 'abtest?'],
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
    async run({ config, inputs, registry, deployer, abtest, log }) {
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
      const { deployment, experiment } = await deployVersion(
        deployer!,
        {
          endpoint,
          model: { model, version: version.version, digest: version.digest },
          // The first version of an endpoint has nothing to canary against.
          strategy: current ? strategy : { type: 'blue-green' },
          reason: `${stageName} version after gate: ${inputs.decision.reason}`,
        },
        { abtest, metric: config.metric },
      );
      const reason = `${endpoint} revision ${deployment.revision}: ${describeRoutes(deployment)}`;
      log.info(
        `deployed ${model} v${version.version} → ${reason}`,
        deployment.url ? { url: deployment.url } : {},
      );
      if (experiment) log.info(`canary experiment ${experiment}: its outcomes judge v${version.version}`);
      return {
        deployment: {
          endpoint,
          model,
          version: version.version,
          deployed: true,
          revision: deployment.revision,
          strategy: current ? strategy.type : 'blue-green',
          ...(deployment.url ? { url: deployment.url } : {}),
          ...(experiment ? { experiment } : {}),
          reason,
        },
      };
    },
  });
}

/** What the canary review step decided. */
export interface CanaryReview {
  endpoint: string;
  /**
   * `promoted`: the canary became the sole primary; `rolled-back`: the
   * canary left and the primary answers everyone again; `continue`: not
   * enough evidence yet; `invalid`: the experiment's sample ratio does not
   * match the split (fix the traffic first); `no-canary`: nothing to review.
   */
  action: 'promoted' | 'rolled-back' | 'continue' | 'invalid' | 'no-canary';
  canary?: number;
  primary?: number;
  experiment?: string;
  /** The endpoint's revision after the review. */
  revision?: number;
  reason: string;
}

const reviewConfig = schema<{ endpoint: string }>(['endpoint'], (value, issues) => {
  if (typeof value.endpoint !== 'string' || !ENDPOINT_NAME.test(value.endpoint))
    issues.push({ path: ['endpoint'], message: 'expected the endpoint name, e.g. "penguins"' });
  return { endpoint: String(value.endpoint) };
});

/**
 * A step that judges an endpoint's canary by its A/B experiment (the one the
 * deploy step created; the model server records its exposures and takes the
 * units' outcomes) and acts on the decision: `ship` promotes the canary to
 * sole primary, `keep-control` takes it out of traffic and puts the primary
 * back in the registry's production stage; otherwise nothing changes. It
 * reads live state, so it never comes from the cache; run it on a schedule
 * (the monitoring pipeline).
 *
 * @example
 * ```yaml
 * # conf/base/canary-review.yaml
 * endpoint: penguins
 * ```
 */
export function canaryReviewStep(
  options: { name?: string } = {},
): Step<{ endpoint: string }, Record<never, never>, { review: ReturnType<typeof json<CanaryReview>> }> {
  return step({
    name: options.name ?? 'canary-review',
    description: "Promote or roll back the endpoint's canary by its A/B experiment",
    config: reviewConfig,
    outputs: { review: json<CanaryReview>() },
    uses: ['registry', 'deployer', 'abtest'],
    cache: false,
    async run({ config, registry, deployer, abtest, log }) {
      const { endpoint } = config;
      const done = (review: Omit<CanaryReview, 'endpoint'>) => {
        log.info(`${review.action}: ${review.reason}`);
        return { review: { endpoint, ...review } };
      };
      const history = await deployer!.history(endpoint);
      const current = history.at(-1);
      const judged = canaryExperimentFor(history);
      if (!current || !judged)
        return done({
          action: 'no-canary',
          ...(current ? { revision: current.revision } : {}),
          reason: current ? `${endpoint} has no canary` : `${endpoint} is not deployed`,
        });
      const { canary, primary, name: experiment } = judged;
      const versions = { canary: canary.model.version, primary: primary.model.version };
      if (!(await abtest!.getExperiment(experiment)))
        return done({
          action: 'continue',
          ...versions,
          revision: current.revision,
          reason: `no experiment ${experiment}: deploy the canary with an A/B engine in the stack to have it judged`,
        });
      const analysis = await abtest!.analyze(experiment);
      const { action, reason } = analysis.decision;
      if (action === 'ship' && analysis.decision.variant === `v${versions.canary}`) {
        const promoted = await deployer!.promote(endpoint, { reason: `${experiment}: ${reason}` });
        await abtest!.conclude(experiment, { winner: `v${versions.canary}`, reason });
        return done({ action: 'promoted', ...versions, experiment, revision: promoted.revision, reason });
      }
      if (action === 'keep-control') {
        const back = await deployer!.setTraffic(
          endpoint,
          { [versions.primary]: 100 },
          { reason: `${experiment}: ${reason}` },
        );
        await abtest!.conclude(experiment, { winner: `v${versions.primary}`, reason });
        // Production in the registry is what serves: the primary again.
        const model = primary.model.model;
        const production = await registry!.getModelByStage(model, 'production');
        if (production?.version !== versions.primary)
          await registry!.transitionStage({
            model,
            version: versions.primary,
            to: 'production',
            reason: `canary v${versions.canary} rolled back: ${reason}`,
            actor: 'canary-review',
            expectedIncumbent: production?.version ?? null,
          });
        return done({ action: 'rolled-back', ...versions, experiment, revision: back.revision, reason });
      }
      return done({
        action: action === 'invalid' ? 'invalid' : 'continue',
        ...versions,
        experiment,
        revision: current.revision,
        reason,
      });
    },
  });
}
