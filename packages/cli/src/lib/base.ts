import { Command, Flags } from '@oclif/core';
import { exitCodeFor, isCairnError, renderCairnError } from './errors';

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

  protected override async catch(error: Error & { exitCode?: number }): Promise<any> {
    if (isCairnError(error)) {
      try {
        this.error(renderCairnError(error), {
          exit: exitCodeFor(error.code),
          code: error.code,
          ...(error.hint ? { suggestions: [error.hint] } : {}),
        });
      } catch (cliError) {
        return super.catch(cliError as Error);
      }
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
