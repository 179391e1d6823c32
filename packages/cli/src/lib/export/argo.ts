/**
 * A pipeline as an Argo Workflows `Workflow` (or `WorkflowTemplate`): one DAG
 * task per step, each a container running `cairn step exec` on the project's
 * image for one attempt, retried by Argo with the step's policy.
 */
import { k8sName, type ResourceRequest, secretEnv } from './common';
import { EXIT_NOT_RETRIED, type PipelineExport, PROCESS_ALLOWANCE_MS, stepExecArgs } from './pipeline';

export interface ArgoOptions {
  image: string;
  /** A `WorkflowTemplate` (submitted later with `argo submit --from workflowtemplate/<name>`) instead of a `Workflow`. */
  template: boolean;
  /** The Secret whose keys hold the values of the `${env:NAME}` references. */
  secret: string;
  namespace?: string;
  serviceAccount?: string;
  /** Requests per step name; `*` for every step without its own. */
  resources: Map<string, ResourceRequest>;
}

/** The run id is a workflow parameter: the same workflow runs any recorded run of the pipeline. */
const RUN = '{{workflow.parameters.run}}';

/** Argo durations are Go durations; whole seconds read best. */
const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export function renderArgo(pipeline: PipelineExport, options: ArgoOptions): Record<string, unknown> {
  const name = k8sName(pipeline.pipeline);
  const labels = { 'app.kubernetes.io/managed-by': 'cairn', 'cairn.dev/pipeline': name };
  const stepTemplates = pipeline.steps.map((step) => {
    const resources = options.resources.get(step.name) ?? options.resources.get('*');
    const env = secretEnv(step.envVars, options.secret);
    return {
      name: step.id,
      metadata: { labels: { ...labels, 'cairn.dev/step': step.id } },
      ...(step.retries
        ? {
            retryStrategy: {
              limit: step.retries.limit,
              // `cairn step exec` is safe to retry: a retried step rewrites the same content-addressed outputs.
              retryPolicy: 'Always',
              // Exit 2 is a usage or config error: retrying cannot mend it.
              expression: `asInt(lastRetry.exitCode) != ${EXIT_NOT_RETRIED}`,
              backoff: { duration: duration(step.retries.backoffMs), factor: 2 },
            },
          }
        : {}),
      // Per pod, one attempt: the step's timeout and what the process needs around it.
      ...(step.timeoutMs !== undefined
        ? { activeDeadlineSeconds: Math.ceil((step.timeoutMs + PROCESS_ALLOWANCE_MS) / 1000) }
        : {}),
      container: {
        name: 'main',
        image: options.image,
        command: ['cairn'],
        args: stepExecArgs(RUN, step.name, pipeline.env),
        ...(env.length > 0 ? { env } : {}),
        ...(resources ? { resources: { requests: { cpu: resources.cpu, memory: resources.memory } } } : {}),
      },
    };
  });
  const byName = new Map(pipeline.steps.map((step) => [step.name, step.id]));
  // The DAG is a template beside the steps' own: its name must not be a step's.
  let entrypoint = 'pipeline';
  while (pipeline.steps.some((step) => step.id === entrypoint)) entrypoint += '-dag';
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: options.template ? 'WorkflowTemplate' : 'Workflow',
    metadata: {
      ...(options.template ? { name } : { generateName: `${name}-` }),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      labels,
      annotations: {
        'cairn.dev/pipeline-name': pipeline.pipeline,
        'cairn.dev/env': pipeline.env,
      },
    },
    spec: {
      entrypoint,
      // No value: `argo submit … -p run=<run id>` must give it.
      arguments: { parameters: [{ name: 'run' }] },
      ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : {}),
      templates: [
        {
          name: entrypoint,
          dag: {
            tasks: pipeline.steps.map((step) => ({
              name: step.id,
              template: step.id,
              ...(step.dependsOn.length > 0
                ? { dependencies: step.dependsOn.map((node) => byName.get(node) ?? k8sName(node)) }
                : {}),
            })),
          },
        },
        ...stepTemplates,
      ],
    },
  };
}
