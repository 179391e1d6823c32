import type { SerializedError, StepLogLine, StepTask, StepTaskResult } from '@cairn/core';

/** Messages from the pool to a worker thread. */
export type WorkerRequest = { type: 'run'; id: number; task: StepTask } | { type: 'abort'; id: number };

/** Messages from a worker thread to the pool. */
export type WorkerReply =
  | { type: 'log'; id: number; line: StepLogLine }
  | { type: 'done'; id: number; result: StepTaskResult }
  | { type: 'error'; id: number; error: SerializedError };
