import { json, type ModelStage, metrics, model, type Step, step } from '@cairn/core';
import { decidePromotion, type GateDecision, type GatePolicy } from './gate';
import { schema } from './schema';

/** What the register step writes: which registry entry the run's model became. */
export interface Registration {
  model: string;
  version: number;
  digest: string;
  stage: ModelStage;
}

const registerConfig = schema(['model', 'description'], (value, issues) => {
  if (typeof value.model !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(value.model)) {
    issues.push({ path: ['model'], message: 'expected the registered model name, e.g. "penguins"' });
  }
  if (value.description !== undefined && typeof value.description !== 'string') {
    issues.push({ path: ['description'], message: 'expected a string' });
  }
  return {
    model: String(value.model),
    ...(typeof value.description === 'string' ? { description: value.description } : {}),
  };
});

const stages = ['staging', 'production'] as const;
const gateConfig = schema<GatePolicy>(
  ['metric', 'direction', 'minImprovement', 'allowedRegression', 'promoteTo', 'firstModelStage', 'actor'],
  (value, issues) => {
    const number = (key: string) => {
      if (value[key] !== undefined && (typeof value[key] !== 'number' || !Number.isFinite(value[key]))) {
        issues.push({ path: [key], message: 'expected a number' });
      }
    };
    if (typeof value.metric !== 'string' || value.metric === '')
      issues.push({ path: ['metric'], message: 'expected the metric to compare, e.g. "macro_f1"' });
    if (value.direction !== undefined && value.direction !== 'higher' && value.direction !== 'lower') {
      issues.push({ path: ['direction'], message: 'expected "higher" or "lower"' });
    }
    number('minImprovement');
    number('allowedRegression');
    for (const key of ['promoteTo', 'firstModelStage']) {
      if (value[key] !== undefined && !stages.includes(value[key] as never))
        issues.push({ path: [key], message: 'expected "staging" or "production"' });
    }
    return value as unknown as GatePolicy;
  },
);

/**
 * A step that adds the trained model to the registry with its metrics and
 * the run it came from. Config: `model` (the registered name), optional
 * `description`. Registering the same bytes twice returns the same version.
 *
 * @example
 * ```ts
 * const register = registerModelStep();           // conf/base/register.yaml: { model: penguins }
 * const { registration } = register({ model: m, metrics: scores });
 * ```
 */
export function registerModelStep(options: { name?: string } = {}) {
  return step({
    name: options.name ?? 'register',
    description: 'Register the model version with its metrics and lineage',
    config: registerConfig,
    inputs: { model: model(), metrics: metrics() },
    outputs: { registration: json<Registration>() },
    uses: ['registry'],
    // Registering the same bytes again returns the same version, so a cached
    // registration is reused while the registry still holds that version.
    async reuse({ outputs: { registration }, registry }) {
      const version = await registry!.getModelVersion(registration.model, registration.version);
      return version?.digest === registration.digest;
    },
    async run({ config, inputs, artifacts, registry, runId, log }) {
      const version = await registry!.registerModel({
        model: config.model,
        digest: artifacts.model!.digest,
        metrics: inputs.metrics,
        runId,
        ...(config.description ? { description: config.description } : {}),
      });
      log.info(`registered ${config.model} v${version.version}`, {
        digest: version.digest,
        stage: version.stage,
      });
      return {
        registration: {
          model: config.model,
          version: version.version,
          digest: version.digest,
          stage: version.stage,
        },
      };
    },
  });
}

/**
 * A step that compares the registered candidate with production on a metric
 * and promotes it when it is better by the configured margin (see
 * {@link GatePolicy}); it writes the decision as an artifact. It never fails
 * the run for a refused candidate: CI reads `failsCi` from the decision
 * (`cairn gate`). A rerun with nothing changed reuses the decision.
 *
 * @example
 * ```yaml
 * # conf/base/gate.yaml
 * metric: macro_f1
 * minImprovement: 0.005
 * allowedRegression: 0.02
 * promoteTo: production
 * ```
 */
export function promotionGateStep(
  options: { name?: string } = {},
): Step<
  GatePolicy,
  { registration: ReturnType<typeof json<Registration>> },
  { decision: ReturnType<typeof json<GateDecision>> }
> {
  return step({
    name: options.name ?? 'gate',
    description: 'Promote the candidate if it beats production on the configured metric',
    config: gateConfig,
    inputs: { registration: json<Registration>() },
    outputs: { decision: json<GateDecision>() },
    uses: ['registry'],
    // The decision depends on the registry, which the cache key cannot see: a
    // cached decision is reused only while the registry still looks the way it
    // left it — the candidate where the gate put it, and (for a candidate it
    // kept out) the same production version it was compared with.
    async reuse({ outputs: { decision }, registry }) {
      const candidate = await registry!.getModelVersion(decision.model, decision.candidate.version);
      if (!candidate || candidate.stage !== decision.stage) return false;
      if (decision.decision === 'promoted') return true;
      const production = await registry!.getModelByStage(decision.model, 'production');
      return (production?.version ?? null) === (decision.production?.version ?? null);
    },
    async run({ config, inputs, registry, log }) {
      const decision = await decidePromotion(registry!, inputs.registration, config);
      log.info(`${decision.decision}: ${decision.reason}`);
      return { decision };
    },
  });
}
