import { join } from 'node:path';
import type { ArtifactRef, Pipeline, PlanReason, StorageDriver } from '@cairn/core';
import { cacheKey, decideCache, PreviousExecutions } from './cache';
import { prepareRun } from './prepare';
import { runServices } from './services';
import { resolveUpstream, sliceOf } from './slice';
import { VerifiedStamps } from './stamps';
import type { Plan, PlannedStep, PlanOptions } from './types';

/**
 * What a run would do, and why, without running anything or writing
 * anything but the module-graph cache of the code fingerprint
 * (`.cairn/code/files.json`): configs are resolved and validated exactly as `runPipeline`
 * would (so a bad config fails here too), cache entries are looked up and
 * their outputs verified in storage.
 *
 * @example
 * ```ts
 * const plan = await planPipeline(training, { storage, metadata, env: 'ci' });
 * for (const s of plan.steps) console.log(s.step, s.action, s.reason);
 * ```
 */
export async function planPipeline(
  pipeline: Pipeline,
  options: PlanOptions & { storage: StorageDriver },
): Promise<Plan> {
  const slice = sliceOf(pipeline, options);
  const prepared = await prepareRun(pipeline, options);
  const tmpDir = join(prepared.stateDir, 'tmp');
  await options.metadata.init?.();
  const previous = new PreviousExecutions(options.metadata, pipeline.name, pipeline.nodes.length);
  // The run's check of cached outputs (by stamp unless verifyOutputs is 'full'), so the plan says what a run
  // would do; a plan writes no stamps.
  const stamps =
    options.verifyOutputs === 'full' ? undefined : VerifiedStamps.for(options.storage, prepared.stateDir);
  const known = new Map<string, Record<string, ArtifactRef>>();
  const steps: PlannedStep[] = [];
  const services = runServices(options, prepared.projectDir);
  try {
    await planSteps();
  } finally {
    await services.close();
  }
  return { pipeline: pipeline.name, env: prepared.env, ...(slice ? { slice: slice.label } : {}), steps };

  async function planSteps(): Promise<void> {
    // A slice plans its steps only; what they read must be cached, exactly as the run requires.
    if (slice) {
      const upstream = await resolveUpstream(slice, prepared, {
        storage: options.storage,
        metadata: options.metadata,
        previous,
        tmpDir,
        services,
        stamps,
      });
      for (const node of slice.upstream) {
        const { key, entry } = upstream.get(node.name)!;
        known.set(node.name, entry.outputs);
        steps.push({
          step: node.name,
          action: 'cached',
          reason: 'cached',
          dependsOn: [...new Set(Object.values(node.inputs).map((wire) => wire.node))],
          cacheKey: key,
        });
      }
    }
    for (const node of slice ? slice.steps : pipeline.nodes) {
      const dependsOn = [...new Set(Object.values(node.inputs).map((wire) => wire.node))];
      const inputs: Record<string, ArtifactRef> = {};
      let inputsKnown = true;
      for (const [name, wire] of Object.entries(node.inputs)) {
        const ref = known.get(wire.node)?.[wire.output];
        if (ref) inputs[name] = ref;
        else inputsKnown = false;
      }
      const planned = (
        action: PlannedStep['action'],
        reason: PlanReason,
        key?: string,
        detail?: string,
      ): PlannedStep => ({
        step: node.name,
        action,
        reason,
        ...(detail ? { detail } : {}),
        dependsOn,
        ...(key ? { cacheKey: key } : {}),
      });
      if (!inputsKnown) {
        steps.push(planned('run', 'upstream'));
        continue;
      }
      const key = cacheKey(node, prepared, inputs);
      const decision = await decideCache(node, prepared, key, inputs, {
        storage: options.storage,
        metadata: options.metadata,
        previous,
        tmpDir,
        services,
        stamps,
        ...(options.noCache ? { noCache: true } : {}),
      });
      if ('reuse' in decision) {
        known.set(node.name, decision.reuse.outputs);
        steps.push(planned('cached', 'cached', key));
      } else steps.push(planned('run', decision.reason, key, decision.detail));
    }
  }
}
