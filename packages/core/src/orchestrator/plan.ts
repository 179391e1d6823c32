import { join } from 'node:path';
import type { ArtifactRef } from '../contracts/metadata';
import type { StorageDriver } from '../contracts/storage';
import type { PlanReason } from '../events';
import type { Pipeline } from '../pipeline';
import {
  cacheKey,
  missReason,
  outputsMatch,
  outputsVerify,
  prepareRun,
  previousExecutions,
  reusable,
} from './prepare';
import type { Plan, PlannedStep, PlanOptions } from './types';

/**
 * What a run would do, and why, without running anything or writing
 * anything: configs are resolved and validated exactly as `runPipeline`
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
  const prepared = await prepareRun(pipeline, options);
  const tmpDir = join(prepared.projectDir, '.cairn', 'tmp');
  await options.metadata.init?.();
  const previous = await previousExecutions(options.metadata, pipeline.name, pipeline.nodes.length);
  const known = new Map<string, Record<string, ArtifactRef>>();
  const steps: PlannedStep[] = [];
  for (const node of pipeline.nodes) {
    const dependsOn = [...new Set(Object.values(node.inputs).map((wire) => wire.node))];
    const inputs: Record<string, ArtifactRef> = {};
    let inputsKnown = true;
    for (const [name, wire] of Object.entries(node.inputs)) {
      const ref = known.get(wire.node)?.[wire.output];
      if (ref) inputs[name] = ref;
      else inputsKnown = false;
    }
    const planned = (action: PlannedStep['action'], reason: PlanReason, key?: string): PlannedStep => ({
      step: node.name,
      action,
      reason,
      dependsOn,
      ...(key ? { cacheKey: key } : {}),
    });
    if (!inputsKnown) {
      steps.push(planned('run', 'upstream'));
      continue;
    }
    const key = cacheKey(node, prepared, inputs);
    if (prepared.force.has(node.name)) {
      steps.push(planned('run', 'forced', key));
      continue;
    }
    if (node.step.definition.cache === false || options.noCache) {
      steps.push(planned('run', 'no-cache', key));
      continue;
    }
    const entry = await options.metadata.lookupCache(key);
    const verified =
      entry && outputsMatch(node, entry.outputs) && (await outputsVerify(options.storage, entry.outputs));
    if (
      verified &&
      (await reusable(node, prepared, entry.outputs, options.storage, options.metadata, tmpDir))
    ) {
      known.set(node.name, entry.outputs);
      steps.push(planned('cached', 'cached', key));
    } else if (verified) {
      steps.push(planned('run', 'state-changed', key));
    } else if (entry) {
      steps.push(planned('run', 'missing-artifact', key));
    } else {
      steps.push(planned('run', missReason(node, prepared, inputs, previous.get(node.name)), key));
    }
  }
  return { pipeline: pipeline.name, env: prepared.env, steps };
}
