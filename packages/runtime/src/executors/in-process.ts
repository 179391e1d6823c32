import { availableParallelism } from 'node:os';
import { type AnyStep, CairnError, ErrorCodes, type ExecutorDescriptor } from '@cairn/core';
import { runStepTask } from '../runner';

export interface InProcessOptions {
  /**
   * Steps running at once. Steps share this thread, so more only helps steps
   * that wait on I/O. @default the number of cores
   */
  concurrency?: number;
}

/**
 * Run steps in this process: no start-up cost, no serialization — the
 * fastest executor for small steps and the default.
 *
 * @example
 * ```ts
 * export default defineConfig({ stack: { executor: inProcess({ concurrency: 4 }) } });
 * ```
 */
export function inProcess(options: InProcessOptions = {}): ExecutorDescriptor<InProcessOptions> {
  if (
    options.concurrency !== undefined &&
    !(Number.isInteger(options.concurrency) && options.concurrency > 0)
  ) {
    throw new CairnError(
      ErrorCodes.PLUGIN_OPTIONS_INVALID,
      `inProcess: option "concurrency" must be a positive integer, got ${JSON.stringify(options.concurrency)}`,
    );
  }
  return {
    kind: 'executor',
    name: 'in-process',
    options,
    create(context) {
      return {
        concurrency: options.concurrency ?? context.concurrency ?? availableParallelism(),
        execute: (task, execute) =>
          runStepTask(task, {
            storage: context.storage,
            signal: execute.signal,
            ...(execute.onLog ? { onLog: execute.onLog } : {}),
            ...(execute.local?.step ? { step: execute.local.step as AnyStep } : {}),
          }),
        close: async () => {},
      };
    },
  };
}
