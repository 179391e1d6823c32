/**
 * A step's config rebuilt from its stored form, where the step runs: what a
 * queue worker does with the job's config, which carries `${env:…}`
 * references rather than secrets (StepTask.storedConfig).
 */

import { CairnError, ErrorCodes, type ErrorIssue, formatIssues } from '@cairn/core';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { resolveEnvRefs } from './env';

/**
 * `stored` with its `${env:…}` references resolved from this process's
 * environment, then parsed by the step's schema (defaults, coercions,
 * transforms), as the coordinator parsed it: the step sees the same value
 * wherever it runs.
 *
 * @throws CairnError `CAIRN_CONFIG_ENV_MISSING` for an unset variable,
 * `CAIRN_CONFIG_INVALID` when the schema refuses what the variables hold here.
 */
export async function configFromStored(
  step: string,
  stored: unknown,
  schema: StandardSchemaV1 | undefined,
): Promise<unknown> {
  const resolved = resolveEnvRefs(stored);
  if (!schema) return resolved;
  const result = await schema['~standard'].validate(resolved);
  if (!result.issues) return result.value;
  const issues: ErrorIssue[] = result.issues.map((issue) => ({
    source: step,
    ...(issue.path?.length
      ? { path: issue.path.map((part) => String(typeof part === 'object' ? part.key : part)) }
      : {}),
    message: issue.message,
  }));
  throw new CairnError(
    ErrorCodes.CONFIG_INVALID,
    `The config of step "${step}" does not pass its schema here:\n${formatIssues(issues)}`,
    { issues, hint: 'Check the environment variables its ${env:…} references name on this machine.' },
  );
}
