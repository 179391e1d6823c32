// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${env:NAME} is the config syntax, not a mistyped template.
/**
 * A pipeline as a cluster engine needs it: its steps in DAG order with what
 * each waits for, its retry policy and timeout, and the environment variables
 * the run reads (the stack's and the step configs'), by name only.
 */
import type { Pipeline } from '@cairn/core';
import { usageError } from '../errors';
import { collectEnvRefs, type ExportProject, k8sName, stackEnvRefs } from './common';

/** One step of the exported pipeline. */
export interface ExportStep {
  /** The node name, as `cairn step exec --step` takes it. */
  name: string;
  /** The node name as a Kubernetes/Argo name (lowercase, `-`). */
  id: string;
  /** Node names whose outputs it reads. */
  dependsOn: string[];
  /** Attempts after the first failure, and the first backoff (doubling), as the local orchestrator retries: the engine makes them. */
  retries?: { limit: number; backoffMs: number };
  /** Per attempt, from the step's `timeoutMs`. */
  timeoutMs?: number;
  /** The variables this step's process reads: the stack's and its own config's, sorted. */
  envVars: string[];
}

export interface PipelineExport {
  pipeline: string;
  /** The stack environment the steps run in (`cairn step exec --env`). */
  env: string;
  steps: ExportStep[];
  /** Every `${env:NAME}` the environment's stack and the step configs refer to, sorted. */
  envVars: string[];
}

/**
 * Describe `pipeline` for export. Step configs are resolved for the
 * environment exactly as a run resolves them, so a config error stops the
 * export (exit 2) before a cluster meets it. No `${env:NAME}` is read from
 * this machine's environment: a key holding one is not judged by the schema
 * (its value is only known where the step runs), every other key is.
 * @throws CAIRN_CONFIG_* as `cairn run`, CAIRN_USAGE when two step names map to one Kubernetes name
 */
export async function describePipeline(project: ExportProject, pipeline: Pipeline): Promise<PipelineExport> {
  const configs = await (await import('@cairn/runtime')).resolveStepConfigs({
    confDir: project.confDir,
    env: project.env,
    projectDir: project.projectDir,
    environment: {},
    deferUnsetEnv: true,
    steps: pipeline.nodes.map((node) => ({ name: node.name, schema: node.step.definition.config })),
  });
  const stackVars = stackEnvRefs(project);
  const all = new Set(stackVars);

  const ids = new Map<string, string>();
  const steps = pipeline.nodes.map((node): ExportStep => {
    const id = k8sName(node.name);
    const clash = ids.get(id);
    if (clash !== undefined) {
      throw usageError(`Steps "${clash}" and "${node.name}" both become "${id}" as Kubernetes names`, {
        hint: 'Rename one of them (call the step with { as: "<name>" } in the pipeline).',
      });
    }
    ids.set(id, node.name);
    // A step gets the stack's variables and its own config's, not every other step's secrets.
    const own = collectEnvRefs(project, configs[node.name]?.stored, new Set(stackVars));
    collectEnvRefs(project, (node.step.definition as { env?: unknown }).env, own);
    for (const name of own) all.add(name);
    const { retries, timeoutMs } = node.step.definition;
    const limit = typeof retries === 'object' ? retries.attempts : (retries ?? 0);
    // The same defaults as the local orchestrator: 200 ms, doubling per attempt.
    const backoffMs = typeof retries === 'object' ? (retries.backoffMs ?? 200) : 200;
    return {
      name: node.name,
      id,
      dependsOn: [...new Set(Object.values(node.inputs).map((wire) => wire.node))],
      ...(limit > 0 ? { retries: { limit, backoffMs } } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      envVars: [...own].sort(),
    };
  });
  return { pipeline: pipeline.name, env: project.env, steps, envVars: [...all].sort() };
}

/**
 * `cairn step exec` for one step, as every exported task runs it: one attempt
 * per command, since the engine retries it with the step's policy.
 */
export function stepExecArgs(run: string, step: string, env: string): string[] {
  return ['step', 'exec', '--run', run, '--step', step, '--env', env, '--single-attempt'];
}

/**
 * What one `cairn step exec` process needs beside its step's own `timeoutMs`: Node and the CLI
 * starting, the stack connecting, inputs read and outputs written. The step's timeout is enforced
 * inside the process; an engine's deadline is a backstop and must not cut a step short of it.
 */
export const PROCESS_ALLOWANCE_MS = 60_000;

/** `cairn step exec`'s exit code for a usage or config error (no such run, an upstream step not done): no retry mends it. */
export const EXIT_NOT_RETRIED = 2;
