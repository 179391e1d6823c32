import { ENDPOINT_NAME } from '@cairn/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';

/**
 * A Standard Schema from a plain validation function (the core carries no validation library).
 * `keys` are every key the config may have: declared as `'~cairn': { keys }`, they let the
 * runtime refuse a typo (`p99ms:`, `minImprovment:`) with the key meant, which a check that
 * passes its input through could not show.
 */
export function schema<T>(
  keys: readonly string[],
  check: (value: Record<string, unknown>, issues: StandardSchemaV1.Issue[]) => T,
): StandardSchemaV1<unknown, T> & { '~cairn': { keys: readonly string[] } } {
  return {
    '~cairn': { keys },
    '~standard': {
      version: 1,
      vendor: 'cairn',
      validate(value) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          return { issues: [{ message: 'expected a mapping of keys to values' }] };
        }
        const issues: StandardSchemaV1.Issue[] = [];
        const out = check(value as Record<string, unknown>, issues);
        return issues.length > 0 ? { issues } : { value: out };
      },
    },
  };
}

/** An issue for an `endpoint` key that is not an endpoint name; `required` when it may not be left out. */
export function checkEndpoint(
  value: Record<string, unknown>,
  issues: StandardSchemaV1.Issue[],
  required = false,
): void {
  if (value.endpoint === undefined && !required) return;
  if (typeof value.endpoint !== 'string' || !ENDPOINT_NAME.test(value.endpoint))
    issues.push({
      path: ['endpoint'],
      message: 'expected lowercase letters, digits and dashes, starting with a letter (at most 63)',
    });
}
