/**
 * Resolved `${env:…}` values must never leave a run: not in an error, a log
 * line or an event. Every config value the run resolved from the environment
 * is replaced by the reference it came from before anything is recorded or
 * emitted.
 */
import type { PreparedRun } from './prepare';

const ENV_REF = /\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Shorter values would mangle ordinary text (`1`, `on`) and say nothing about a secret. */
const MIN_SECRET_LENGTH = 3;

/** Replaces resolved secrets by their `${env:NAME}` reference. */
export interface SecretScrubber {
  text(value: string): string;
  /** A copy of a plain value (an event, an error) with every string scrubbed. */
  deep<T>(value: T): T;
}

/** The scrubber for the secrets a run's configs resolved (their stored form names each reference). */
export function secretScrubber(prepared: PreparedRun, environment: NodeJS.ProcessEnv): SecretScrubber {
  const names = new Map<string, string>();
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(ENV_REF)) {
        const name = match[2]!;
        const resolved = environment[name];
        if (
          !match[1] &&
          resolved !== undefined &&
          resolved.length >= MIN_SECRET_LENGTH &&
          !names.has(resolved)
        )
          names.set(resolved, name);
      }
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
  };
  for (const config of prepared.configs.values()) visit(config.stored);
  // Longest first, so that a secret containing another is replaced whole.
  const secrets = [...names.entries()].sort((a, b) => b[0].length - a[0].length);
  const text = (value: string): string => {
    let out = value;
    for (const [secret, name] of secrets)
      if (out.includes(secret)) out = out.split(secret).join(`\${env:${name}}`);
    return out;
  };
  const deep = <T>(value: T): T => {
    if (secrets.length === 0) return value;
    if (typeof value === 'string') return text(value) as T;
    if (Array.isArray(value)) return value.map(deep) as T;
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = deep(item);
      return out as T;
    }
    return value;
  };
  return { text, deep };
}
