import {
  CairnError,
  canonicalJson,
  ErrorCodes,
  EXPERIMENT_NAME,
  type ExperimentDefinition,
  type MetricDefinition,
  type VariantDefinition,
} from '@cairn/core';

/** A definition with every default filled in: what is stored and compared. */
export type NormalizedDefinition = Required<Omit<ExperimentDefinition, 'variants'>> & {
  variants: VariantDefinition[];
};

const DEFINITION_KEYS = new Set([
  'name',
  'variants',
  'control',
  'primaryMetric',
  'guardrailMetrics',
  'coverage',
  'seed',
  'hashVersion',
  'alpha',
  'minimumSampleSize',
]);
const VARIANT_KEYS = new Set(['name', 'weight', 'payload']);
const METRIC_KEYS = new Set(['name', 'type', 'goal']);

export function invalid(message: string, hint?: string): CairnError {
  return new CairnError(ErrorCodes.EXPERIMENT_INVALID, message, hint === undefined ? {} : { hint });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const show = (value: unknown): string => {
  if (typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

function unknownKeys(value: Record<string, unknown>, known: Set<string>, where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw invalid(`${where}: unknown key "${key}" (known: ${[...known].join(', ')})`);
  }
}

function checkName(value: unknown, where: string): string {
  if (typeof value !== 'string' || !EXPERIMENT_NAME.test(value)) {
    throw invalid(
      `${where} must be lowercase letters, digits, ".", "_" or "-", starting with a letter, at most 100 characters; got ${show(value)}`,
    );
  }
  return value;
}

function checkMetric(value: unknown, where: string): MetricDefinition {
  if (!isObject(value)) throw invalid(`${where} must be an object { name, type, goal }`);
  unknownKeys(value, METRIC_KEYS, where);
  const name = checkName(value.name, `${where}.name`);
  if (value.type !== 'binomial' && value.type !== 'continuous') {
    throw invalid(`${where}.type must be "binomial" or "continuous", got ${show(value.type)}`);
  }
  if (value.goal !== 'increase' && value.goal !== 'decrease') {
    throw invalid(`${where}.goal must be "increase" or "decrease", got ${show(value.goal)}`);
  }
  return { name, type: value.type, goal: value.goal };
}

/**
 * Check a definition and fill in its defaults. Everything is checked before
 * anything is stored, so a bad definition leaves no trace.
 */
export function normalizeDefinition(input: unknown): NormalizedDefinition {
  if (!isObject(input)) throw invalid('An experiment definition must be an object');
  const name = checkName(input.name, 'Experiment name');
  const where = `Experiment "${name}"`;
  unknownKeys(input, DEFINITION_KEYS, where);

  if (!Array.isArray(input.variants) || input.variants.length < 2) {
    throw invalid(`${where}: variants must be an array of at least two variants`);
  }
  const seen = new Set<string>();
  const variants = input.variants.map((variant: unknown, i: number): VariantDefinition => {
    const at = `${where}: variants[${i}]`;
    if (!isObject(variant)) throw invalid(`${at} must be an object { name, weight, payload? }`);
    unknownKeys(variant, VARIANT_KEYS, at);
    const variantName = checkName(variant.name, `${at}.name`);
    if (seen.has(variantName)) throw invalid(`${where}: variant name "${variantName}" appears twice`);
    seen.add(variantName);
    const weight = variant.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw invalid(`${at}.weight must be a finite number > 0, got ${show(weight)}`);
    }
    const out: VariantDefinition = { name: variantName, weight };
    if (variant.payload !== undefined) {
      try {
        out.payload = JSON.parse(canonicalJson(variant.payload));
      } catch (error) {
        throw invalid(`${at}.payload must be JSON-serializable: ${(error as Error).message}`);
      }
    }
    return out;
  });

  const control = input.control ?? variants[0]!.name;
  if (typeof control !== 'string' || !seen.has(control)) {
    throw invalid(`${where}: control ${show(control)} is not one of the variants (${[...seen].join(', ')})`);
  }

  const primaryMetric = checkMetric(input.primaryMetric, `${where}: primaryMetric`);
  if (input.guardrailMetrics !== undefined && !Array.isArray(input.guardrailMetrics)) {
    throw invalid(`${where}: guardrailMetrics must be an array of metrics`);
  }
  const guardrailMetrics = ((input.guardrailMetrics as unknown[] | undefined) ?? []).map((metric, i) =>
    checkMetric(metric, `${where}: guardrailMetrics[${i}]`),
  );
  const metricNames = new Set<string>();
  for (const metric of [primaryMetric, ...guardrailMetrics]) {
    if (metricNames.has(metric.name)) throw invalid(`${where}: metric name "${metric.name}" appears twice`);
    metricNames.add(metric.name);
  }

  const coverage = input.coverage ?? 1;
  if (typeof coverage !== 'number' || !(coverage > 0 && coverage <= 1)) {
    throw invalid(`${where}: coverage must be a number in (0, 1], got ${show(coverage)}`);
  }
  const seed = input.seed ?? name;
  if (typeof seed !== 'string' || seed === '') {
    throw invalid(`${where}: seed must be a non-empty string, got ${show(seed)}`);
  }
  const hashVersion = input.hashVersion ?? 2;
  if (hashVersion !== 1 && hashVersion !== 2) {
    throw invalid(`${where}: hashVersion must be 1 or 2, got ${show(hashVersion)}`);
  }
  const alpha = input.alpha ?? 0.05;
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) {
    throw invalid(`${where}: alpha must be a number in (0, 1), got ${show(alpha)}`);
  }
  const minimumSampleSize = input.minimumSampleSize ?? 100;
  if (
    typeof minimumSampleSize !== 'number' ||
    !Number.isInteger(minimumSampleSize) ||
    minimumSampleSize < 2
  ) {
    // Two units per variant is the least a variance (and so any test) needs.
    throw invalid(`${where}: minimumSampleSize must be an integer >= 2, got ${show(minimumSampleSize)}`);
  }

  return {
    name,
    variants,
    control,
    primaryMetric,
    guardrailMetrics,
    coverage,
    seed,
    hashVersion,
    alpha,
    minimumSampleSize,
  };
}

/** A unit id: any non-empty string. */
export function checkUnitId(experiment: string, unitId: unknown): string {
  if (typeof unitId !== 'string' || unitId === '') {
    throw invalid(`Experiment "${experiment}": unit id must be a non-empty string, got ${show(unitId)}`);
  }
  return unitId;
}

/** An event time as ISO-8601. */
export function eventTime(experiment: string, at: unknown): string {
  if (at === undefined) return new Date().toISOString();
  const date = at instanceof Date ? at : typeof at === 'string' ? new Date(at) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw invalid(
      `Experiment "${experiment}": option "at" must be an ISO-8601 time or a Date, got ${show(at)}`,
    );
  }
  return date.toISOString();
}

/** An event id: a non-empty string when given. */
export function eventId(experiment: string, id: unknown): string | null {
  if (id === undefined) return null;
  if (typeof id !== 'string' || id === '') {
    throw invalid(`Experiment "${experiment}": option "eventId" must be a non-empty string, got ${show(id)}`);
  }
  return id;
}
