/**
 * Resolved `${env:…}` values must never leave a run: not in an error, a log
 * line or an event. Every secret config resolution substituted (it records
 * each value with the variable it came from) is replaced by its reference
 * before anything is recorded or emitted.
 */
import { scrubSecrets } from '../config/env';
import type { PreparedRun } from './prepare';

/** Replaces resolved secrets by their `${env:NAME}` reference. */
export interface SecretScrubber {
  text(value: string): string;
  /** A copy of a plain value (an event, an error) with every string scrubbed. */
  deep<T>(value: T): T;
}

/** The scrubber for the secrets a run's configs resolved. */
export function secretScrubber(prepared: PreparedRun): SecretScrubber {
  const secrets = new Map<string, string>();
  for (const config of prepared.configs.values())
    for (const [secret, name] of config.secrets) secrets.set(secret, name);
  const text = (value: string): string => scrubSecrets(value, secrets);
  const deep = <T>(value: T): T => {
    if (secrets.size === 0) return value;
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
