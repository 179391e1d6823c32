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
  'CAIRN_UPSTREAM_NOT_CACHED',
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

/**
 * Control characters (ANSI escapes, carriage returns, NUL…) and bidirectional
 * overrides (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) in text that may
 * echo user input — a step name, a key, a flag — written as `\u{…}` so that
 * they can neither repaint the terminal nor reorder what the user reads.
 * Newlines and tabs are kept: messages are laid out with them.
 */
export function escapeControl(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
    /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g,
    (char) => `\\u{${char.codePointAt(0)!.toString(16).padStart(4, '0')}}`,
  );
}

/** The message, plus the issues when the message does not already list them, with control characters escaped. */
export function renderCairnError(error: CairnErrorLike): string {
  return escapeControl(renderCairnErrorText(error));
}

function renderCairnErrorText(error: CairnErrorLike): string {
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
