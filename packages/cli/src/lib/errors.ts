/**
 * How a `CairnError` becomes what the user sees: message, the issues under
 * it, a hint, and an exit code. Kept free of `@cairn/core` imports so that
 * loading a command stays cheap.
 */

/** Exit code for a run that failed or was cancelled. */
export const EXIT_FAILED = 1;
/** Exit code for bad usage, invalid config or pipeline: nothing ran. */
export const EXIT_USAGE = 2;

/** Codes that mean "the input was wrong, nothing ran". Everything else is a failure (1). */
const USAGE_CODES = new Set([
  'CAIRN_USAGE',
  'CAIRN_CONFIG_INVALID',
  'CAIRN_CONFIG_UNREADABLE',
  'CAIRN_CONFIG_ENV_MISSING',
  'CAIRN_CONFIG_OVERRIDE_INVALID',
  'CAIRN_STACK_INVALID',
  'CAIRN_PLUGIN_OPTIONS_INVALID',
  'CAIRN_PLUGIN_INVALID',
  'CAIRN_STEP_INVALID',
  'CAIRN_PIPELINE_INVALID',
  'CAIRN_PIPELINE_NOT_FOUND',
  'CAIRN_SCAFFOLD_INVALID',
  'CAIRN_ARTIFACT_KEY_INVALID',
  'CAIRN_ARTIFACT_NOT_FOUND',
  'CAIRN_METADATA_NOT_FOUND',
  'CAIRN_DEPLOY_INVALID',
  'CAIRN_DEPLOYMENT_NOT_FOUND',
  'CAIRN_EXPERIMENT_INVALID',
  'CAIRN_EXPERIMENT_NOT_FOUND',
  'CAIRN_UNAUTHORIZED',
]);

export interface CairnErrorLike {
  code: string;
  message: string;
  hint?: string | undefined;
  issues?: Array<{ source?: string; path?: ReadonlyArray<string | number>; message: string }>;
  context?: Record<string, string>;
}

/** True for a CairnError from any copy of the core (the brand is a global symbol). */
export function isCairnError(value: unknown): value is CairnErrorLike & Error {
  return typeof value === 'object' && value !== null && (value as any)[Symbol.for('cairn.error')] === true;
}

export function exitCodeFor(code: string | undefined): number {
  return code && USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILED;
}

/** The message, plus the issues when the message does not already list them. */
export function renderCairnError(error: CairnErrorLike): string {
  const lines = [error.message];
  const issues = error.issues ?? [];
  if (issues.length > 0 && !error.message.includes(issues[0]!.message)) {
    for (const issue of issues) {
      const where = [issue.source, issue.path?.length ? issue.path.join('.') : undefined]
        .filter(Boolean)
        .join(' → ');
      lines.push(`  - ${where ? `${where}: ` : ''}${issue.message}`);
    }
  }
  const context = Object.entries(error.context ?? {});
  if (context.length > 0) lines.push(`  (${context.map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  return lines.join('\n');
}

/** A CairnError made without loading the core (the brand makes `CairnError.is` accept it). */
export function usageError(message: string, options: { hint?: string; code?: string } = {}): Error {
  const error = new Error(message) as Error & CairnErrorLike;
  error.name = 'CairnError';
  error.code = options.code ?? 'CAIRN_USAGE';
  error.hint = options.hint;
  error.issues = [];
  error.context = {};
  (error as any)[Symbol.for('cairn.error')] = true;
  return error;
}
