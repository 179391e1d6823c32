import { CairnError, ErrorCodes, type ErrorIssue, formatIssues } from '@cairn/core';
import { type ConfigObject, deepMerge, findNonFinite, setOwn } from './merge';
import { yaml } from './yaml';

/** Step names as `step()` accepts them. */
const STEP_NAME = /^[a-z][a-z0-9_-]{0,63}$/i;
/** Segments that would reach an object's prototype if anything ever assigned them naively. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/** Overrides per step: `{ train: { model: { trees: 3 } } }` for `--set train.model.trees=3`. */
export type ConfigOverrides = Record<string, Record<string, unknown>>;

/** Parse `--set` flags, collecting every problem instead of stopping at the first. */
export function collectOverrides(flags: readonly string[]): {
  overrides: ConfigOverrides;
  /** Malformed flags. */
  issues: ErrorIssue[];
  /** Values whose YAML cannot be expanded (aliases): reported as `CAIRN_CONFIG_UNREADABLE`. */
  unreadable: ErrorIssue[];
} {
  const overrides: ConfigOverrides = {};
  const issues: ErrorIssue[] = [];
  const unreadable: ErrorIssue[] = [];
  for (const flag of flags) {
    const problem = (message: string) => issues.push({ source: '--set', message });
    if (typeof flag !== 'string') {
      problem(`expected a string "step.key=value", got ${typeof flag}`);
      continue;
    }
    const equals = flag.indexOf('=');
    if (equals < 0) {
      problem(`"${flag}" has no "=": expected step.key=value, e.g. train.trees=200`);
      continue;
    }
    const key = flag.slice(0, equals).trim();
    const segments = key.split('.');
    const [step, ...path] = segments;
    if (key === '') {
      problem('empty key before "=": expected step.key=value, e.g. train.trees=200');
      continue;
    }
    if (!step || !STEP_NAME.test(step)) {
      problem(`"${key}": "${step}" is not a step name (letters, digits, "_" or "-", starting with a letter)`);
      continue;
    }
    if (path.length === 0) {
      problem(`"${key}" names a step but no key: expected ${step}.key=value`);
      continue;
    }
    if (path.some((segment) => segment.trim() === '')) {
      problem(`"${key}" has an empty segment: expected dot-separated keys, e.g. ${step}.model.depth=3`);
      continue;
    }
    const forbidden = path.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
    if (forbidden) {
      problem(`"${key}": "${forbidden}" is not allowed as a config key`);
      continue;
    }
    const parsed = parseValue(flag.slice(equals + 1));
    if ('alias' in parsed) {
      unreadable.push({ source: '--set', path: [step, ...path], message: parsed.alias });
      continue;
    }
    if ('error' in parsed) {
      // The value is left out of the message: it may be a secret typed on the command line.
      problem(`"${key}": the value is not valid YAML (${parsed.error}); quote it to pass a string`);
      continue;
    }
    let nested: unknown = parsed.value;
    for (const segment of [...path].reverse()) {
      const level: ConfigObject = {};
      setOwn(level, segment, nested);
      nested = level;
    }
    overrides[step] = deepMerge(overrides[step] ?? {}, nested) as ConfigObject;
  }
  return { overrides, issues, unreadable };
}

/**
 * Parse `--set step.key.path=value` flags into overrides per step. Values are
 * YAML scalars or flow collections: `3` is a number, `true` a boolean,
 * `[1, 2]` an array, `{a: 1}` an object, `"3"` the string "3"; an empty value
 * is the empty string. Later flags win over earlier ones for the same key.
 *
 * The CLI calls this before loading anything so that a malformed flag fails
 * at once; whether each step exists is checked by `resolveStepConfigs`.
 *
 * @throws CairnError `CAIRN_CONFIG_OVERRIDE_INVALID` listing every malformed flag.
 *
 * @example
 * ```ts
 * parseOverrides(['train.trees=300', 'train.model.layers=[64, 32]']);
 * // → { train: { trees: 300, model: { layers: [64, 32] } } }
 * ```
 */
export function parseOverrides(flags: string[]): ConfigOverrides {
  const { overrides, issues, unreadable } = collectOverrides(flags);
  if (issues.length === 0 && unreadable.length > 0) {
    throw new CairnError(
      ErrorCodes.CONFIG_UNREADABLE,
      `Cannot read --set ${unreadable.length === 1 ? 'value' : 'values'}:\n${formatIssues(unreadable)}`,
      {
        issues: unreadable,
        hint: 'A --set value cannot use YAML aliases (*name); quote it to pass a string.',
      },
    );
  }
  if (issues.length > 0) {
    issues.push(...unreadable);
    throw new CairnError(
      ErrorCodes.CONFIG_OVERRIDE_INVALID,
      `Invalid --set ${issues.length === 1 ? 'flag' : 'flags'}:\n${formatIssues(issues)}`,
      { issues, hint: 'Write --set <step>.<key>[.<key>…]=<value>, e.g. --set train.trees=200' },
    );
  }
  return overrides;
}

function parseValue(raw: string): { value: unknown } | { error: string } | { alias: string } {
  if (raw.trim() === '') return { value: '' };
  const doc = yaml().parseDocument(raw);
  const first = doc.errors[0];
  if (first) return { error: first.message.split('\n')[0] ?? 'syntax error' };
  let value: unknown;
  try {
    // A flag has no anchors worth referring to; the limit stops an alias bomb typed into one.
    value = doc.toJS({ maxAliasCount: 10 });
  } catch {
    // The reason is left out: it quotes the alias, which is part of a value that may be a secret.
    return {
      alias:
        'the value is YAML with an alias (*name) that cannot be expanded (unknown anchor, or too many uses); quote it to pass a string',
    };
  }
  if (findNonFinite(value)) return { error: '.inf and .nan cannot be stored as JSON' };
  return { value };
}
