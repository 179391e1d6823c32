/**
 * What `runPipeline` and `planPipeline` do before any step runs: check the
 * graph's services and `--force`, resolve and validate every step's config,
 * and fingerprint every step's code (one module graph for the whole run).
 */
import { resolve } from 'node:path';
import { CairnError, canonicalJson, ErrorCodes, type Pipeline, sha256 } from '@cairn/core';
import { resolveStepConfigs } from '../config/index';
import { stateDirOf } from '../state-dir';
import { fingerprintSteps, type StepCode } from './code';
import { checkServices } from './services';
import type { PlanOptions } from './types';

export interface PreparedRun {
  env: string;
  projectDir: string;
  /** Per node: what the step receives (secrets resolved) and what is stored (references kept). */
  configs: Map<
    string,
    {
      value: unknown;
      stored: unknown;
      digest: string;
      bytes: Uint8Array;
      /** The secrets substituted into `value` (value → variable name): scrubbed from everything the run emits. */
      secrets: ReadonlyMap<string, string>;
    }
  >;
  /** Cairn's local state folder: where what each fingerprint consisted of is kept. */
  stateDir: string;
  /** Per node: the step's code fingerprint (its module and what it imports, version, sources) and its parts. */
  code: Map<string, StepCode>;
  force: Set<string>;
}

/**
 * Resolve and validate everything a run needs before any step runs.
 * @param only the one node that will run (`cairn step exec`): only its config is checked by its
 * step's schema; the others are needed only in their stored form (their digests), never their values
 */
export async function prepareRun(
  pipeline: Pipeline,
  options: PlanOptions,
  only?: string,
): Promise<PreparedRun> {
  const env = options.env ?? 'local';
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const force = new Set(options.force ?? []);
  const unknown = [...force].filter((name) => !pipeline.node(name));
  if (unknown.length > 0) {
    throw new CairnError(
      ErrorCodes.USAGE,
      `--force names ${unknown.map((n) => `"${n}"`).join(', ')}, not a step of pipeline "${pipeline.name}" (steps: ${pipeline.nodes
        .map((n) => n.name)
        .join(', ')})`,
    );
  }
  checkServices(pipeline, options);
  const resolved = await resolveStepConfigs({
    confDir: resolve(projectDir, options.confDir ?? 'conf'),
    projectDir,
    env,
    steps: pipeline.nodes.map((node) => ({
      name: node.name,
      ...(node.step.definition.config && (only === undefined || only === node.name)
        ? { schema: node.step.definition.config }
        : {}),
    })),
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.configs ? { inline: options.configs } : {}),
    ...(options.environment ? { environment: options.environment } : {}),
  });
  const configs: PreparedRun['configs'] = new Map();
  const encoder = new TextEncoder();
  for (const node of pipeline.nodes) {
    const entry = resolved[node.name];
    const stored = entry?.stored ?? {};
    const bytes = encoder.encode(canonicalJson(stored));
    configs.set(node.name, {
      value: entry?.value ?? {},
      stored,
      digest: sha256(bytes),
      bytes,
      secrets: entry?.secrets ?? new Map(),
    });
  }
  const stateDir = stateDirOf(projectDir, options.stateDir);
  const byStep = await fingerprintSteps(
    pipeline.nodes.map((node) => ({ step: node.step, pipelineModule: pipeline.module })),
    projectDir,
    stateDir,
  );
  const code = new Map<string, StepCode>();
  for (const node of pipeline.nodes) code.set(node.name, byStep.get(node.step)!);
  return { env, projectDir, stateDir, configs, code, force };
}
