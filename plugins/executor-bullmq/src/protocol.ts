/**
 * What crosses Redis between a coordinator (`execute`) and workers, besides
 * the BullMQ job itself (whose data is the StepTask).
 *
 * - The job's return value is a {@link JobOutcome}: the step's result, or its
 *   error serialized with its code. A step that fails still *completes* the
 *   BullMQ job: BullMQ's own failures (a job that stalled too often) mean the
 *   worker machinery failed, not the step.
 * - Step log lines go over one pub/sub channel per queue ({@link logChannel}),
 *   tagged with the job id; each coordinator keeps the lines of its own jobs.
 * - Cancellation goes over another channel ({@link cancelChannel}): every
 *   worker hears it and the one running the job aborts the step's signal.
 */
import type { SerializedError, StepLogLine, StepTask, StepTaskResult } from '@cairn/core';

/**
 * A job's data: the task, whose `config` is the stored one (`${env:…}`
 * references kept) when `configIsStored` is set; the worker resolves it from
 * its own environment, so Redis never holds a resolved secret.
 */
export type JobData = Omit<StepTask, 'storedConfig'> & { configIsStored?: true };

export type JobOutcome = { ok: true; result: StepTaskResult } | { ok: false; error: SerializedError };

export interface LogMessage {
  jobId: string;
  line: StepLogLine;
}

export interface CancelMessage {
  jobId: string;
}

/** BullMQ's key prefix; the channels live beside the queue's keys. */
export const PREFIX = 'bull';

export const logChannel = (queue: string) => `${PREFIX}:${queue}:cairn:log`;
export const cancelChannel = (queue: string) => `${PREFIX}:${queue}:cairn:cancel`;

/** One job per step attempt: a retried attempt is a new job, never a BullMQ retry. */
export const jobIdFor = (task: { executionId: string; attempt: number }) =>
  `${task.executionId}-${task.attempt}`;
