/**
 * The stage-transition rule, written once: every metadata store (memory,
 * SQLite, PostgreSQL, a platform team's) reads the state inside its own lock
 * or transaction, calls `planStageTransition`, and applies what it returns
 * in that same lock or transaction.
 */
import {
  CairnError,
  ErrorCodes,
  type ModelStage,
  type StageTransition,
  type TransitionInput,
} from '@cairn/core';

/** What a stage transition is decided on, read by the store under its lock. */
export interface StageState {
  /** The stage `input.version` is in now; `undefined` when the model has no such version. */
  current: ModelStage | undefined;
  /** The other versions of the model that are now in stage `input.to` (never `input.version` itself). */
  holders: ReadonlyArray<{ version: number; stage: ModelStage }>;
}

/** What a store does with a transition: record (and, when accepted, apply) each entry, in order. */
export interface StageTransitionPlan {
  /**
   * Transitions to record in the history, in this order. An accepted entry is
   * also a stage change to apply (`version` moves to `to`). The requested
   * transition is always the last one.
   */
  transitions: StageTransition[];
  /**
   * Set when the transition is refused. The store still commits
   * `transitions` (the refused attempt stays in the history), then throws
   * this `CAIRN_REGISTRY_CONFLICT` error.
   */
  conflict?: CairnError;
}

/**
 * The stage-transition rule of {@link ModelRegistry.transitionStage}, as a
 * pure function: the same input and state give the same plan in every store.
 *
 * 1. `expectedFrom`, when given, must be the version's current stage.
 * 2. `expectedIncumbent`, when given, must be the newest holder of the target
 *    stage (`null`: no other version holds it).
 * 3. A refused transition records one attempt with `accepted: false` and
 *    changes no stage.
 * 4. Moving to `production` or `staging` with `archivePrevious` (the default)
 *    first archives every other holder of that stage, each recorded as an
 *    accepted transition to `archived`.
 *
 * @param at the time every recorded transition carries (ISO-8601)
 * @throws CAIRN_METADATA_NOT_FOUND when `state.current` is `undefined` (no such model or version)
 *
 * @example
 * ```ts
 * // inside the store's transaction, after locking the model:
 * const plan = planStageTransition(input, { current: row.stage, holders });
 * for (const t of plan.transitions) {
 *   if (t.accepted) await setStage(t.version, t.to);
 *   await recordTransition(t);
 * }
 * // after committing:
 * if (plan.conflict) throw plan.conflict;
 * return plan.transitions.at(-1)!;
 * ```
 */
export function planStageTransition(
  input: TransitionInput,
  state: StageState,
  at: string = new Date().toISOString(),
): StageTransitionPlan {
  const { current } = state;
  if (current === undefined) {
    throw new CairnError(
      ErrorCodes.METADATA_NOT_FOUND,
      `Model "${input.model}" has no version ${input.version}`,
    );
  }
  const transition = (
    version: number,
    from: ModelStage,
    to: ModelStage,
    accepted: boolean,
  ): StageTransition => ({
    model: input.model,
    version,
    from,
    to,
    reason: input.reason,
    actor: input.actor ?? 'unknown',
    at,
    accepted,
  });
  const refuse = (message: string): StageTransitionPlan => ({
    transitions: [transition(input.version, current, input.to, false)],
    conflict: new CairnError(ErrorCodes.REGISTRY_CONFLICT, message, {
      hint: `Another transition got there first; read \`cairn registry history ${input.model}\` and decide again.`,
    }),
  });
  if (input.expectedFrom !== undefined && input.expectedFrom !== current) {
    return refuse(
      `Model "${input.model}" version ${input.version} is in stage "${current}", not "${input.expectedFrom}"`,
    );
  }
  // A store may hand in holders it read more widely; only other versions in the target stage count.
  const holders = state.holders.filter((h) => h.version !== input.version && h.stage === input.to);
  if (input.expectedIncumbent !== undefined) {
    const incumbent = holders.length > 0 ? Math.max(...holders.map((h) => h.version)) : null;
    if (incumbent !== input.expectedIncumbent) {
      const held = incumbent === null ? 'held by no version' : `held by v${incumbent}`;
      const expected = input.expectedIncumbent === null ? 'no version' : `v${input.expectedIncumbent}`;
      return refuse(
        `Model "${input.model}": stage "${input.to}" is ${held}, not ${expected} — another promotion happened in between`,
      );
    }
  }
  const transitions: StageTransition[] = [];
  if ((input.archivePrevious ?? true) && (input.to === 'production' || input.to === 'staging')) {
    for (const holder of [...holders].sort((a, b) => a.version - b.version)) {
      transitions.push(transition(holder.version, holder.stage, 'archived', true));
    }
  }
  transitions.push(transition(input.version, current, input.to, true));
  return { transitions };
}
