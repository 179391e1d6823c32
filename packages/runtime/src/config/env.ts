import { CairnError, ErrorCodes, type ErrorIssue, formatIssues } from '@cairn/core';
import { isPlainObject, setOwn } from './merge';

/** `${env:NAME}`, or `$${env:NAME}` which stands for the literal text `${env:NAME}`. */
const ENV_REF = /\$(\$?)\{env:([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A problem met while substituting references; never carries a variable's value. */
export interface EnvProblem {
  kind: 'missing' | 'malformed' | 'unterminated';
  path: string[];
  name: string;
}

/** Resolved values shorter than this are not scrubbed from messages: they would mangle ordinary text. */
const MIN_SCRUB_LENGTH = 3;

/**
 * Replace `${env:NAME}` references inside every string of a plain value
 * (objects and arrays walked, nothing modified in place). Reports problems
 * instead of throwing, and records every substituted value in `secrets`
 * (value → variable name) so that callers can scrub them from messages.
 */
export function substituteEnvRefs(
  value: unknown,
  environment: NodeJS.ProcessEnv,
  problems: EnvProblem[],
  secrets: Map<string, string>,
  path: string[] = [],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('{env:')) return value;
    // `${env:DATA_PATH` with no `}` would otherwise pass through as a literal path.
    if (value.replace(ENV_REF, '').includes('${env:')) {
      const start = value.replace(ENV_REF, (whole) => ' '.repeat(whole.length)).indexOf('${env:');
      const name = value.slice(start + '${env:'.length).match(/^[A-Za-z0-9_]*/)?.[0] ?? '';
      problems.push({ kind: 'unterminated', path, name });
    }
    return value.replace(ENV_REF, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      if (!ENV_NAME.test(name)) {
        problems.push({ kind: 'malformed', path, name });
        return whole;
      }
      const resolved = environment[name];
      if (resolved === undefined) {
        problems.push({ kind: 'missing', path, name });
        return whole;
      }
      recordSecret(secrets, resolved, name);
      // A value read from a file or a CI secret often ends in a newline that a step (or its
      // schema) trims: the trimmed text is what an error quotes.
      recordSecret(secrets, resolved.trim(), name);
      return resolved;
    });
  }
  if (Array.isArray(value)) {
    return value.map((item, index) =>
      substituteEnvRefs(item, environment, problems, secrets, [...path, String(index)]),
    );
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      setOwn(out, key, substituteEnvRefs(value[key], environment, problems, secrets, [...path, key]));
    }
    return out;
  }
  return value;
}

function recordSecret(secrets: Map<string, string>, value: string, name: string): void {
  if (value.length >= MIN_SCRUB_LENGTH && !secrets.has(value)) secrets.set(value, name);
}

/**
 * Record what a step's schema made of its resolved secrets (a `.trim()`, a
 * `.toLowerCase()`, any transform): where a string of the stored config holds
 * a `${env:NAME}` reference and the parsed value at the same path is a
 * string other than the substituted one, that string is a secret too (the
 * step sees it, and its errors may quote it), scrubbed as `${env:NAME}` (the
 * first variable the string refers to). `stored`, `substituted` and `parsed`
 * are walked together, by key and index.
 */
export function recordParsedSecrets(
  stored: unknown,
  substituted: unknown,
  parsed: unknown,
  secrets: Map<string, string>,
): void {
  if (typeof stored === 'string') {
    if (typeof parsed !== 'string' || parsed === substituted) return;
    for (const match of stored.matchAll(ENV_REF)) {
      if (match[1] || !ENV_NAME.test(match[2]!)) continue;
      recordSecret(secrets, parsed, match[2]!);
      return;
    }
    return;
  }
  if (Array.isArray(stored)) {
    if (!Array.isArray(substituted) || !Array.isArray(parsed)) return;
    for (const [index, item] of stored.entries())
      recordParsedSecrets(item, substituted[index], parsed[index], secrets);
    return;
  }
  if (!isPlainObject(stored) || !isPlainObject(substituted) || !isPlainObject(parsed)) return;
  for (const key of Object.keys(stored)) {
    if (Object.hasOwn(parsed, key)) recordParsedSecrets(stored[key], substituted[key], parsed[key], secrets);
  }
}

/** Describe an env problem for an error message: names the variable and never a value. */
export function describeEnvProblem(problem: EnvProblem): string {
  if (problem.kind === 'unterminated')
    return `unterminated reference \${env:${problem.name}: close it with "}" (write $\${env:…} for the literal text)`;
  return problem.kind === 'missing'
    ? `environment variable ${problem.name} is not set (referenced as \${env:${problem.name}})`
    : `malformed reference \${env:${problem.name}}: a variable name uses letters, digits and "_" and does not start with a digit`;
}

/**
 * Replace every occurrence of a resolved secret in a text with the reference
 * it came from (`${env:NAME}`), or with `replacement` when given; longest
 * first, so that a secret containing another is replaced whole.
 */
export function scrubSecrets(
  text: string,
  secrets: ReadonlyMap<string, string>,
  replacement?: string,
): string {
  if (secrets.size === 0) return text;
  let out = text;
  for (const [secret, name] of [...secrets].sort((a, b) => b[0].length - a[0].length))
    if (out.includes(secret)) out = out.split(secret).join(replacement ?? `\${env:${name}}`);
  return out;
}

/**
 * True when a value holds at least one `${env:NAME}` reference in one of its
 * strings (objects and arrays are searched).
 */
export function hasEnvRefs(value: unknown): boolean {
  if (typeof value === 'string') {
    for (const match of value.matchAll(ENV_REF)) if (!match[1]) return true;
    return false;
  }
  if (Array.isArray(value)) return value.some(hasEnvRefs);
  if (isPlainObject(value)) return Object.keys(value).some((key) => hasEnvRefs(value[key]));
  return false;
}

/**
 * What the `${env:NAME}` references in a value name, without reading the
 * environment: the variables (each once, in order of appearance) and the
 * problems a resolution would meet whatever the environment holds (a
 * malformed name, an unterminated reference). `$${env:NAME}` is a literal.
 * Plugin objects are walked like plain ones, so a stack's options count.
 */
export function envRefNames(value: unknown): { names: string[]; problems: EnvProblem[] } {
  const names = new Set<string>();
  const problems: EnvProblem[] = [];
  const seen = new Set<object>();
  const walk = (item: unknown, path: string[]) => {
    if (typeof item === 'string') {
      const found: EnvProblem[] = [];
      substituteEnvRefs(item, {}, found, new Map(), path);
      for (const problem of found)
        if (problem.kind === 'missing') names.add(problem.name);
        else problems.push(problem);
    } else if (typeof item === 'object' && item !== null && !seen.has(item)) {
      seen.add(item);
      for (const [key, inner] of Object.entries(item)) walk(inner, [...path, key]);
    }
  };
  walk(value, []);
  return { names: [...names], problems };
}

/**
 * Substitute `${env:NAME}` references in a value: a whole string
 * (`'${env:ARTIFACT_BUCKET}'`) or part of one
 * (`'postgres://app:${env:PG_PASSWORD}@db/cairn'`). Strings inside objects
 * and arrays are replaced too; the input is not modified. Write `$${env:NAME}`
 * for the literal text `${env:NAME}`.
 *
 * For plugins that take secrets in their options: call it when connecting,
 * not in the factory, and never log the result.
 *
 * @throws CairnError `CAIRN_CONFIG_ENV_MISSING` naming every unset variable
 * and where it is referenced (`CAIRN_CONFIG_INVALID` if a reference is malformed).
 *
 * @example
 * ```ts
 * const { bucket } = resolveEnvRefs(options); // options.bucket = '${env:ARTIFACT_BUCKET}'
 * ```
 */
export function resolveEnvRefs<T>(value: T, environment: NodeJS.ProcessEnv = process.env): T {
  const problems: EnvProblem[] = [];
  const resolved = substituteEnvRefs(value, environment, problems, new Map());
  if (problems.length > 0) {
    const issues: ErrorIssue[] = problems.map((problem) => ({
      ...(problem.path.length > 0 ? { path: problem.path } : {}),
      message: describeEnvProblem(problem),
    }));
    const allMissing = problems.every((problem) => problem.kind === 'missing');
    throw new CairnError(
      allMissing ? ErrorCodes.CONFIG_ENV_MISSING : ErrorCodes.CONFIG_INVALID,
      `Cannot resolve \${env:…} references:\n${formatIssues(issues)}`,
      { issues, hint: allMissing ? 'Set the environment variables named above.' : undefined },
    );
  }
  return resolved as T;
}
