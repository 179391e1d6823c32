import { Command, Flags, type Interfaces } from '@oclif/core';
import { EXIT_USAGE, escapeControl, exitCodeFor, isCairnError, renderCairnError } from './errors';

/** oclif's shape of parsed flags and arguments (its FlagOutput/ArgOutput, which it does not export). */
type ParsedValues = { [name: string]: any };

/** Marks an error thrown while parsing flags and arguments. */
const USAGE = Symbol('cairn.usage');

/**
 * What every cairn command shares: the `--project` flag and the translation
 * of a `CairnError` into message + hint + exit code (2: nothing ran, 1: a run
 * failed). Libraries never print or exit; this is the one place that does.
 */
export abstract class CairnCommand extends Command {
  static override baseFlags = {
    project: Flags.string({
      char: 'p',
      description:
        'Project folder (default: the nearest folder above the current one with a cairn.config.ts)',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Anything the flag and argument parser throws is bad usage: marked so that `catch` gives it CAIRN_USAGE. */
  protected override async parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv);
    } catch (error) {
      if (error instanceof Error && !isCairnError(error))
        (error as Error & { [USAGE]?: boolean })[USAGE] = true;
      throw error;
    }
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<any> {
    if (isCairnError(error)) {
      try {
        this.error(renderCairnError(error), {
          exit: exitCodeFor(error.code),
          code: error.code,
          ...(error.hint ? { suggestions: [escapeControl(error.hint)] } : {}),
        });
      } catch (cliError) {
        return super.catch(cliError as Error);
      }
    }
    if ((error as Error & { [USAGE]?: boolean })[USAGE] === true) {
      // oclif's own usage errors (unknown flag, missing argument, bad integer) keep its help text but
      // carry a Cairn code, like every other refusal; they echo what was typed, so it is escaped.
      error.message = escapeControl(error.message);
      Object.assign(error, { code: 'CAIRN_USAGE' });
      const withExit = error as Error & { oclif?: { exit?: number } };
      withExit.oclif = { ...withExit.oclif, exit: EXIT_USAGE };
    }
    return super.catch(error);
  }

  /** Print one JSON document (for `--json`). */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

/** `--json`, shared by commands whose output is data. */
export const jsonFlag = Flags.boolean({ description: 'Print machine-readable JSON', default: false });
/** `--env`, shared by commands that load the stack. */
export const envFlag = Flags.string({
  char: 'e',
  description: 'Stack environment (cairn.config.ts `env`)',
  default: 'local',
});
