/**
 * What the delivery commands (`serve`, `deploy`, `endpoints`, `experiments`)
 * share: opening the stack's deployer and A/B engine, resolving a registered
 * model version, parsing traffic splits, and rendering deployments and
 * analyses. Loaded only inside `run()`, so `--help` stays cheap.
 */
import type {
  AbTestDescriptor,
  AbTestEngine,
  Deployer,
  DeployerDescriptor,
  Deployment,
  ExperimentAnalysis,
  ModelVersion,
  TrafficRoute,
  VariantComparison,
  VariantMetricSummary,
} from '@cairn/core';
import { usageError } from './errors';
import { table } from './format';
import { withProject } from './inspect';
import { findInstalledPlugin } from './plugins';
import type { OpenedProject } from './project';

/**
 * The stack's deployer descriptor, or a usage error (exit 2) saying how to
 * add one.
 */
export function requireDeployer(stack: OpenedProject): DeployerDescriptor {
  if (!stack.deployer) {
    throw usageError(`The stack (env ${stack.env}) has no deployer`, {
      code: 'CAIRN_STACK_INVALID',
      hint: 'Add the embedded one with `cairn add deploy-local`, then map your model flavors in `serving.loaders` of cairn.config.ts.',
    });
  }
  return stack.deployer;
}

/**
 * `descriptor` with another port. A descriptor's `create` closes over the
 * options its factory validated, so changing `options` on a copy changes
 * nothing: the descriptor is rebuilt by calling the plugin's factory again
 * with `{ ...options, port }`. That is possible for deployers whose package
 * the project has installed (found by its `"cairn"` field: kind `deployer`,
 * the descriptor's id); others are told to set the port in cairn.config.ts.
 */
export async function withPort(
  descriptor: DeployerDescriptor,
  port: number,
  projectDir = process.cwd(),
): Promise<DeployerDescriptor> {
  const options = descriptor.options;
  const hasPort = typeof options === 'object' && options !== null && 'port' in options;
  const installed = findInstalledPlugin(projectDir, 'deployer', descriptor.name);
  if (!hasPort && !installed) {
    throw usageError(`--port: the "${descriptor.name}" deployer has no port option`, {
      hint: "Set where it serves in cairn.config.ts (the deployer factory's options).",
    });
  }
  if (!installed) {
    throw usageError(`--port: cannot rebuild the "${descriptor.name}" deployer with another port`, {
      hint: 'Set the port in cairn.config.ts instead.',
    });
  }
  const specifier = installed.package;
  // A variable specifier: the CLI does not depend on the plugin; the project does.
  let factory: unknown;
  try {
    factory = ((await import(specifier)) as { default?: unknown }).default;
  } catch (cause) {
    // A CLI installed apart from the project (globally) may not see the project's plugins.
    throw usageError(`--port: cannot load ${specifier}: ${(cause as Error).message}`, {
      hint: 'Run the project-local cli (`npx cairn serve --port …`), or set the port in cairn.config.ts.',
    });
  }
  if (typeof factory !== 'function') {
    throw usageError(`--port: ${specifier} has no default export factory`);
  }
  return factory({ ...(options as object), port }) as DeployerDescriptor;
}

/** The stack's A/B engine, opened on the project's state folder as runs open it. */
export function openAbTest(stack: OpenedProject & { abtest: AbTestDescriptor }): Promise<AbTestEngine> {
  return Promise.resolve(stack.abtest.create({ stateDir: stack.stateDir }));
}

/** Create the live deployer of the stack in `mode`, as pipeline steps get it. */
export async function openDeployer(
  stack: OpenedProject,
  mode: 'serve' | 'control',
  descriptor: DeployerDescriptor = requireDeployer(stack),
  experiments?: AbTestEngine,
): Promise<Deployer> {
  return descriptor.create({
    storage: stack.storage,
    loaders: stack.loaders,
    stateDir: (await import('@cairn/core')).deployerStateDir(stack.stateDir),
    mode,
    ...(experiments ? { experiments } : {}),
  });
}

/** Open the stack and its deployer (control mode), run `fn`, close both. */
export async function withDeployer<T>(
  flags: { project?: string | undefined; env?: string | undefined },
  fn: (deployer: Deployer, stack: OpenedProject) => Promise<T>,
): Promise<T> {
  return withProject(flags, async (stack) => {
    const deployer = await openDeployer(stack, 'control');
    try {
      return await fn(deployer, stack);
    } finally {
      await deployer.close();
    }
  });
}

/** Open the stack and its A/B engine, run `fn`, close both. */
export async function withAbTest<T>(
  flags: { project?: string | undefined; env?: string | undefined },
  fn: (engine: AbTestEngine, stack: OpenedProject) => Promise<T>,
): Promise<T> {
  return withProject(flags, async (stack) => {
    if (!stack.abtest) {
      throw usageError(`The stack (env ${stack.env}) has no A/B testing engine`, {
        code: 'CAIRN_STACK_INVALID',
        hint: 'Add the embedded one with `cairn add abtest-local`.',
      });
    }
    const engine = await openAbTest(stack as OpenedProject & { abtest: AbTestDescriptor });
    try {
      return await fn(engine, stack);
    } finally {
      await engine.close();
    }
  });
}

/**
 * The registered version to deploy: `version` when given, else the one in
 * `stage`.
 * @throws CAIRN_METADATA_NOT_FOUND naming the model, version or stage
 */
export async function resolveModelVersion(
  stack: OpenedProject,
  model: string,
  version: number | undefined,
  stage: 'production' | 'staging',
): Promise<ModelVersion> {
  const { CairnError, ErrorCodes } = await import('@cairn/core');
  const found =
    version === undefined
      ? await stack.metadata.getModelByStage(model, stage)
      : await stack.metadata.getModelVersion(model, version);
  if (found) return found;
  const known = (await stack.metadata.listModels()).find((m) => m.model === model);
  if (!known) {
    throw new CairnError(ErrorCodes.METADATA_NOT_FOUND, `No registered model "${model}"`, {
      hint: 'List registered models with `cairn registry`.',
    });
  }
  throw new CairnError(
    ErrorCodes.METADATA_NOT_FOUND,
    version === undefined
      ? `Model "${model}" has no version in ${stage}`
      : `Model "${model}" has no version ${version} (latest: v${known.latest})`,
    {
      hint:
        version === undefined
          ? `Name a version (\`cairn deploy ${model} <version>\`) or promote one with \`cairn registry promote ${model} <version> --stage ${stage}\`.`
          : `List its versions with \`cairn registry versions ${model}\`.`,
    },
  );
}

/**
 * Parse `3=90 4=10` into `{ 3: 90, 4: 10 }`. The deployer checks the rest
 * (live versions, sum of 100).
 * @throws CAIRN_USAGE naming the first malformed pair
 */
export function parseTrafficSplit(pairs: readonly string[]): Record<number, number> {
  if (pairs.length === 0) {
    throw usageError('No traffic split given: expected version=weight pairs such as 3=90 4=10');
  }
  const split: Record<number, number> = {};
  for (const pair of pairs) {
    const match = /^v?(\d+)=(\d+)%?$/.exec(pair.trim());
    const version = match ? Number(match[1]) : Number.NaN;
    const weight = match ? Number(match[2]) : Number.NaN;
    if (!match || version < 1 || weight > 100) {
      throw usageError(
        `Malformed traffic pair "${pair}": expected <version>=<weight>, a version of 1 or more and a whole percent from 0 to 100 (e.g. 3=90)`,
      );
    }
    if (version in split) throw usageError(`Version ${version} appears twice in the traffic split`);
    split[version] = weight;
  }
  return split;
}

/** `v3 90% · v4 10% canary · v5 shadow` (the model name is shown when it is not the endpoint's). */
export function formatRoutes(deployment: Pick<Deployment, 'endpoint' | 'routes'>): string {
  return deployment.routes
    .map((route: TrafficRoute) => {
      const name =
        route.model.model === deployment.endpoint
          ? `v${route.model.version}`
          : `${route.model.model} v${route.model.version}`;
      if (route.role === 'shadow') return `${name} shadow`;
      return `${name} ${route.weight}%${route.role === 'canary' ? ' canary' : ''}`;
    })
    .join(' · ');
}

/** `2026-05-01 14:03:12` from an ISO time (UTC). */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** One line per deployment for lists. */
export function deploymentsTable(deployments: readonly Deployment[]): string {
  return table(
    ['ENDPOINT', 'REVISION', 'ROUTES', 'UPDATED', 'URL'],
    deployments.map((d) => [
      d.endpoint,
      String(d.revision),
      formatRoutes(d),
      formatTime(d.updatedAt),
      d.url ?? '-',
    ]),
  );
}

/** The one-line summary after a change: `penguins revision 2 (deploy): v1 70% · v2 30% canary`. */
export function describeChange(deployment: Deployment): string {
  return `${deployment.endpoint} revision ${deployment.revision} (${deployment.change}): ${formatRoutes(deployment)}${deployment.url ? `  ${deployment.url}` : ''}`;
}

const number = (value: number, digits = 4): string => {
  if (Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  return Math.abs(value) >= 1e4 ? value.toExponential(2) : value.toFixed(digits);
};
const signed = (value: number, digits = 4): string => `${value > 0 ? '+' : ''}${number(value, digits)}`;
const pValue = (p: number): string => (Number.isNaN(p) ? 'n/a' : p < 0.0001 ? '<0.0001' : p.toFixed(4));

function metricBlock(
  title: string,
  block: { metric: string; variants: VariantMetricSummary[]; comparisons: VariantComparison[] },
  alpha: number,
): string[] {
  const level = Math.round((1 - alpha) * 100);
  return [
    `${title}: ${block.metric}`,
    table(
      ['VARIANT', 'UNITS', 'MEAN', 'VARIANCE'],
      block.variants.map((v) => [v.variant, String(v.units), number(v.mean), number(v.variance)]),
    ),
    '',
    table(
      ['VS CONTROL', 'DIFFERENCE', 'RELATIVE', `${level}% CI`, 'P-VALUE', 'SEQ. P', 'P(BETTER)', 'VERDICT'],
      block.comparisons.map((c) => [
        c.variant,
        signed(c.difference),
        Number.isNaN(c.relativeDifference) ? 'n/a' : `${signed(c.relativeDifference * 100, 1)}%`,
        `[${signed(c.confidenceInterval[0])}, ${signed(c.confidenceInterval[1])}]`,
        pValue(c.pValue),
        pValue(c.sequentialPValue),
        number(c.probabilityToBeBetter, 3),
        c.verdict,
      ]),
    ),
  ];
}

/** The analysis as a person reads it: exposures and the sample-ratio check, each metric, the decision. */
export function formatAnalysis(analysis: ExperimentAnalysis, alpha = 0.05): string {
  const exposures = Object.entries(analysis.exposures)
    .map(([variant, n]) => {
      const expected = analysis.sampleRatio.expected[variant];
      return `${variant} ${n}${expected === undefined ? '' : ` (expected ${expected.toFixed(1)})`}`;
    })
    .join(' · ');
  const lines = [
    `Experiment ${analysis.experiment} · control ${analysis.control} · analyzed ${formatTime(analysis.analyzedAt)}`,
    `Exposures: ${exposures}`,
    `Sample ratio: p = ${pValue(analysis.sampleRatio.pValue)} ${analysis.sampleRatio.mismatch ? '— MISMATCH: the assignment is broken, the metrics cannot be trusted' : '(ok)'}`,
    '',
    ...metricBlock('Primary metric', analysis.primary, alpha),
  ];
  for (const guardrail of analysis.guardrails) lines.push('', ...metricBlock('Guardrail', guardrail, alpha));
  const { action, variant, reason } = analysis.decision;
  lines.push('', `Decision: ${action}${variant ? ` ${variant}` : ''}`, `  ${reason}`);
  return lines.join('\n');
}

/**
 * The endpoint's current revision.
 * @throws CAIRN_DEPLOYMENT_NOT_FOUND naming the endpoint and the known ones
 */
export async function requireEndpoint(deployer: Deployer, name: string): Promise<Deployment> {
  const deployment = await deployer.status(name);
  if (deployment) return deployment;
  const { CairnError, ErrorCodes } = await import('@cairn/core');
  const known = (await deployer.list()).map((d) => d.endpoint);
  throw new CairnError(ErrorCodes.DEPLOYMENT_NOT_FOUND, `No endpoint "${name}" is deployed`, {
    hint:
      known.length > 0
        ? `Deployed endpoints: ${known.join(', ')}`
        : 'Deploy one with `cairn deploy <model>`.',
  });
}

/**
 * The experiment, or CAIRN_EXPERIMENT_NOT_FOUND naming the known ones.
 */
export async function requireExperiment(engine: AbTestEngine, name: string) {
  const experiment = await engine.getExperiment(name);
  if (experiment) return experiment;
  const { CairnError, ErrorCodes } = await import('@cairn/core');
  const known = (await engine.listExperiments()).map((e) => e.name);
  throw new CairnError(ErrorCodes.EXPERIMENT_NOT_FOUND, `No experiment "${name}"`, {
    hint: known.length > 0 ? `Experiments: ${known.join(', ')}` : 'No experiment has been created yet.',
  });
}
