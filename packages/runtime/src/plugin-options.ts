/**
 * Plugin options, checked once when the factory is called, by a zod schema
 * the plugin declares. One place turns the schema's first problem into the
 * `CAIRN_PLUGIN_OPTIONS_INVALID` message every plugin gives: it names the
 * plugin and the option, says what was expected and (unless the option may
 * hold a secret) what was given.
 *
 * @example
 * ```ts
 * const Options = z.strictObject({
 *   dir: z.string({ error: 'must be a folder path' }).min(1, { error: 'must be a folder path' }).optional(),
 * });
 * export function diskStorage(input: z.input<typeof Options> = {}) {
 *   const options = parsePluginOptions('diskStorage', Options, input);
 *   // …
 * }
 * ```
 */

import { CairnError, ErrorCodes } from '@cairn/core';
import type { z } from 'zod';

export interface PluginOptionsCheck {
  /**
   * Options whose values must never appear in a message (passwords, keys,
   * connection strings): dotted paths, e.g. `'url'`, `'credentials.secretAccessKey'`.
   * A path also covers everything under it.
   */
  secret?: readonly string[];
}

/**
 * Parse `input` with `schema` (defaults applied) or throw the first problem as
 * a `CairnError` with code `CAIRN_PLUGIN_OPTIONS_INVALID`, e.g.
 * `sqliteMetadata: option "busyTimeoutMs" must be a non-negative integer of milliseconds, got -1`.
 * An unknown option (declare the schema with `z.strictObject`) is named with
 * the options that exist: a typo is caught before anything runs.
 *
 * @param plugin how the message names the plugin: its factory or package name
 * @throws CAIRN_PLUGIN_OPTIONS_INVALID naming the plugin and the option
 */
export function parsePluginOptions<S extends z.ZodType>(
  plugin: string,
  schema: S,
  input: unknown,
  check: PluginOptionsCheck = {},
): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  // A misspelt option explains every other complaint ("bukket" → "bucket is required"): name it first.
  const issue =
    result.error.issues.find((i) => i.code === 'unrecognized_keys') ??
    (result.error.issues[0] as z.core.$ZodIssue);
  const where = issue.path.map(String);
  let option: string;
  let problem: string;
  if (issue.code === 'unrecognized_keys') {
    option = [...where, issue.keys[0]].join('.');
    problem = `is not an option (known: ${keysAt(schema, where).join(', ')})`;
  } else {
    option = where.join('.');
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    problem = missing ? `is required: it ${issue.message}` : issue.message;
    const secret = (check.secret ?? []).some((s) => option === s || option.startsWith(`${s}.`));
    // A custom check's message already says what it found.
    if (!missing && !secret && issue.code !== 'custom' && 'input' in issue) {
      problem += `, got ${describe(issue.input)}`;
    }
  }
  return throwInvalid(plugin, option, problem);
}

function throwInvalid(plugin: string, option: string, problem: string): never {
  const what = option === '' ? 'options' : `option "${option}"`;
  throw new CairnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${plugin}: ${what} ${problem}`, {
    context: { plugin, option },
  });
}

/** The option names an object schema declares at `path` (for "known: …"). */
function keysAt(schema: z.ZodType, path: readonly string[]): string[] {
  // Look through optional(), default() and the like to the object inside.
  const unwrap = (value: unknown): unknown => {
    let current = value;
    for (let depth = 0; depth < 8; depth++) {
      const inner = (current as { _zod?: { def?: { innerType?: unknown } } })?._zod?.def?.innerType;
      if (!inner) break;
      current = inner;
    }
    return current;
  };
  let current = unwrap(schema);
  for (const key of path) current = unwrap((current as { shape?: Record<string, unknown> })?.shape?.[key]);
  return Object.keys((current as { shape?: Record<string, unknown> })?.shape ?? {});
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}
