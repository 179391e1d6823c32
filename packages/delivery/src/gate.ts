import { CairnError, ErrorCodes, type ModelRegistry, type ModelStage, type ModelVersion } from '@cairn/core';

/** How a candidate is judged against the version in production. */
export interface GatePolicy {
  /** The metric both versions are compared on, e.g. `'macro_f1'`. */
  metric: string;
  /** Whether bigger is better. @default 'higher' */
  direction?: 'higher' | 'lower';
  /**
   * How much better than production the candidate must be to be promoted.
   * @default 0 (at least as good)
   */
  minImprovement?: number;
  /**
   * How much worse than production a candidate may be before CI fails the
   * job (`failsCi`). A candidate between the two thresholds is kept, not
   * promoted, and does not fail CI.
   * @default 0
   */
  allowedRegression?: number;
  /** The stage a winning candidate moves to. @default 'production' */
  promoteTo?: Exclude<ModelStage, 'none' | 'archived'>;
  /** The stage the first model of a name moves to (no production yet). @default promoteTo */
  firstModelStage?: Exclude<ModelStage, 'none' | 'archived'>;
  /** Recorded on the transition. @default 'cairn-gate' */
  actor?: string;
}

/** What the gate decided, written as an artifact and summarised in CI. */
export interface GateDecision {
  model: string;
  candidate: { version: number; value: number };
  production?: { version: number; value: number };
  metric: string;
  direction: 'higher' | 'lower';
  /** Candidate minus production, signed so that positive is better. */
  improvement?: number;
  /** `promoted`: moved to `stage`; `kept`: left where it was. */
  decision: 'promoted' | 'kept';
  stage?: ModelStage;
  reason: string;
  /** True when the candidate is worse than production by more than `allowedRegression`. */
  failsCi: boolean;
}

/**
 * Compare a registered candidate with the current production version and
 * promote it when it is better by at least `minImprovement`. The transition
 * records the reason; a concurrent promotion makes this one fail with
 * CAIRN_REGISTRY_CONFLICT rather than silently overwrite it.
 */
export async function decidePromotion(
  registry: ModelRegistry,
  candidate: { model: string; version: number },
  policy: GatePolicy,
): Promise<GateDecision> {
  const direction = policy.direction ?? 'higher';
  const promoteTo = policy.promoteTo ?? 'production';
  const version = await registry.getModelVersion(candidate.model, candidate.version);
  if (!version) {
    throw new CairnError(
      ErrorCodes.METADATA_NOT_FOUND,
      `Model "${candidate.model}" has no version ${candidate.version}`,
    );
  }
  const value = metricOf(version, policy.metric);
  const production = await registry.getModelByStage(candidate.model, 'production');
  const base = {
    model: candidate.model,
    metric: policy.metric,
    direction,
    candidate: { version: version.version, value },
  };
  // Where a version is in production, what the candidate is compared with (every decision below says it).
  const productionValue = production && metricOf(production, policy.metric);
  const againstProduction =
    production && productionValue !== undefined
      ? {
          production: { version: production.version, value: productionValue },
          improvement: direction === 'higher' ? value - productionValue : productionValue - value,
        }
      : undefined;

  if (version.stage === 'archived' && production?.version !== version.version) {
    // A retired version (replaced, rolled back after a failed canary, refused by a load test)
    // comes back only by hand: the offline metric already said it was better once. Also when no
    // version is in production (the one refused was the first): it is not a first model again.
    const retired = (await registry.modelHistory(candidate.model))
      .filter((t) => t.version === version.version && t.to === 'archived' && t.accepted !== false)
      .at(-1);
    return {
      ...base,
      ...againstProduction,
      decision: 'kept',
      stage: 'archived',
      reason: `v${version.version} was archived${retired?.reason ? ` (${retired.reason})` : ''}; the gate does not bring it back — \`cairn registry promote\` does, or train a new version`,
      failsCi: false,
    };
  }
  if (!production || !againstProduction) {
    const stage = policy.firstModelStage ?? promoteTo;
    const reason = `first model of "${candidate.model}": ${policy.metric} = ${fmt(value)}`;
    await promote(
      registry,
      version,
      stage,
      reason,
      policy,
      (await registry.getModelByStage(candidate.model, stage))?.version ?? null,
    );
    return { ...base, decision: 'promoted', stage, reason, failsCi: false };
  }
  const { improvement } = againstProduction;
  const withProduction = { ...base, ...againstProduction };
  if (production.version === version.version) {
    return {
      ...withProduction,
      decision: 'kept',
      stage: 'production',
      reason: `v${version.version} is already in production`,
      failsCi: false,
    };
  }
  const minImprovement = policy.minImprovement ?? 0;
  const compared = `${policy.metric} ${fmt(value)} vs production v${production.version} ${fmt(againstProduction.production.value)} (${improvement >= 0 ? '+' : ''}${fmt(improvement)})`;
  if (improvement >= minImprovement) {
    const reason = `${compared} ≥ required improvement ${fmt(minImprovement)}`;
    const incumbent =
      promoteTo === 'production'
        ? production.version
        : ((await registry.getModelByStage(candidate.model, promoteTo))?.version ?? null);
    await promote(registry, version, promoteTo, reason, policy, incumbent);
    return { ...withProduction, decision: 'promoted', stage: promoteTo, reason, failsCi: false };
  }
  const failsCi = -improvement > (policy.allowedRegression ?? 0);
  const reason = `${compared} < required improvement ${fmt(minImprovement)}${failsCi ? `; worse than production by more than the allowed ${fmt(policy.allowedRegression ?? 0)}` : ''}`;
  return { ...withProduction, decision: 'kept', stage: version.stage, reason, failsCi };
}

async function promote(
  registry: ModelRegistry,
  version: ModelVersion,
  stage: Exclude<ModelStage, 'none' | 'archived'>,
  reason: string,
  policy: GatePolicy,
  incumbent: number | null,
): Promise<void> {
  if (version.stage === stage) return;
  // The comparison was made against `incumbent`: if another gate promoted in
  // between, this promotion is refused (CAIRN_REGISTRY_CONFLICT), not stacked on top.
  await registry.transitionStage({
    expectedIncumbent: incumbent,
    model: version.model,
    version: version.version,
    to: stage,
    reason,
    actor: policy.actor ?? 'cairn-gate',
    expectedFrom: version.stage,
  });
}

function metricOf(version: ModelVersion, metric: string): number {
  const value = version.metrics[metric];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CairnError(
      ErrorCodes.METADATA_NOT_FOUND,
      `Model "${version.model}" v${version.version} has no metric "${metric}" (it has: ${Object.keys(version.metrics).join(', ') || 'none'})`,
    );
  }
  return value;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(4));

/** A Markdown summary of a decision, for `$GITHUB_STEP_SUMMARY` and terminals. */
export function gateSummaryMarkdown(decision: GateDecision, metrics: Record<string, number> = {}): string {
  const lines = [
    `## Promotion gate: ${decision.model} v${decision.candidate.version}`,
    '',
    `**Decision: ${decision.decision === 'promoted' ? `promoted to ${decision.stage}` : 'kept'}**${decision.failsCi ? ' — ❌ worse than production beyond the allowed margin' : ''}`,
    '',
    decision.reason,
    '',
    `| metric | candidate | production |`,
    `| --- | --- | --- |`,
    `| ${decision.metric} (gate, ${decision.direction} is better) | ${fmt(decision.candidate.value)} | ${decision.production ? `${fmt(decision.production.value)} (v${decision.production.version})` : '—'} |`,
  ];
  for (const [name, value] of Object.entries(metrics)) {
    if (name !== decision.metric) lines.push(`| ${name} | ${fmt(value)} | |`);
  }
  return `${lines.join('\n')}\n`;
}
