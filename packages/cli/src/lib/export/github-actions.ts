/**
 * A pipeline as a GitHub Actions workflow: one job per step, `needs:` from
 * the DAG, each job checking out the project and running `cairn step exec`
 * for the run id given when the workflow is dispatched.
 */
import { withHash } from './common';
import { EXIT_NOT_RETRIED, type PipelineExport, PROCESS_ALLOWANCE_MS, stepExecArgs } from './pipeline';

export interface GithubActionsOptions {
  runsOn: string;
  nodeVersion: string;
}

/** What GitHub's parser accepts as a job id (`__` at the start is reserved). */
const JOB_ID = /^(?!__)[A-Za-z_][\w-]*$/;
const JOB_ID_MAX = 99;

/**
 * A step name as a job id: unchanged when GitHub accepts it, else with `_`
 * for what it refuses (`load.data` → `load_data`, `9lives` → `_9lives`,
 * `___` → `_`), cut with a short hash when too long.
 */
export function jobId(name: string): string {
  if (JOB_ID.test(name) && name.length <= JOB_ID_MAX) return name;
  let id = name.replace(/[^\w-]+/g, '_').replace(/^_{2,}/, '_');
  if (!/^[A-Za-z_]/.test(id)) id = `_${id}`;
  return id.length <= JOB_ID_MAX ? id : withHash(id, name, JOB_ID_MAX, '_', '_');
}

/** A shell word: bare when it is safe, else single-quoted. */
const word = (value: string) =>
  /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * The job's shell script. Actions has no retry of its own, so the step's
 * policy becomes a loop: the first attempt, then one per backoff delay
 * (doubling from the step's first backoff, as the local orchestrator waits),
 * each a single attempt. Exit 2 (a usage or config error) is never retried.
 */
function script(command: string, retries: { limit: number; backoffMs: number } | undefined): string {
  if (!retries) return command;
  const delays = Array.from({ length: retries.limit }, (_, i) => (retries.backoffMs * 2 ** i) / 1000);
  return [
    // `|| rc=$?` keeps a failure from ending the script under Actions' `bash -e`.
    'rc=0',
    `${command} || rc=$?`,
    `for delay in ${delays.join(' ')}; do`,
    `  if [ "$rc" -eq 0 ] || [ "$rc" -eq ${EXIT_NOT_RETRIED} ]; then exit "$rc"; fi`,
    '  echo "cairn step exec failed (exit $rc); retrying in ${delay}s"',
    '  sleep "$delay"',
    '  rc=0',
    `  ${command} || rc=$?`,
    'done',
    'exit "$rc"',
  ].join('\n');
}

/**
 * The `cairn step exec` step's timeout: every attempt's own timeout and process allowance, and the
 * backoff between them. On the step, not the job: checkout, setup-node and `npm ci` are not the
 * step's time.
 */
function stepTimeoutMinutes(step: {
  timeoutMs?: number;
  retries?: { limit: number; backoffMs: number };
}): number {
  const attempts = (step.retries?.limit ?? 0) + 1;
  const backoff = Array.from({ length: attempts - 1 }, (_, i) => step.retries!.backoffMs * 2 ** i).reduce(
    (a, b) => a + b,
    0,
  );
  return Math.ceil((attempts * (step.timeoutMs! + PROCESS_ALLOWANCE_MS) + backoff) / 60_000);
}

export function renderGithubActions(
  pipeline: PipelineExport,
  options: GithubActionsOptions,
): Record<string, unknown> {
  // Distinct: two names that would become one job id become one Kubernetes name too, which
  // describePipeline already refuses (ids differ from names only where k8sName is coarser).
  const ids = new Map(pipeline.steps.map((step) => [step.name, jobId(step.name)]));
  const jobs: Record<string, unknown> = {};
  for (const step of pipeline.steps) {
    const secrets = Object.fromEntries(step.envVars.map((name) => [name, `\${{ secrets.${name} }}`]));
    // The run id comes from the dispatch input through the environment, never pasted into the script.
    const command = ['npx', 'cairn', ...stepExecArgs('"$CAIRN_RUN_ID"', step.name, pipeline.env)]
      .map((arg) => (arg === '"$CAIRN_RUN_ID"' ? arg : word(arg)))
      .join(' ');
    jobs[ids.get(step.name)!] = {
      name: step.name,
      'runs-on': options.runsOn,
      ...(step.dependsOn.length > 0 ? { needs: step.dependsOn.map((node) => ids.get(node)!) } : {}),
      steps: [
        { uses: 'actions/checkout@v4' },
        { uses: 'actions/setup-node@v4', with: { 'node-version': options.nodeVersion, cache: 'npm' } },
        { run: 'npm ci' },
        {
          name: `cairn step exec ${step.name}`,
          shell: 'bash',
          env: { CAIRN_RUN_ID: '${{ inputs.run }}', ...secrets },
          run: script(command, step.retries),
          ...(step.timeoutMs !== undefined ? { 'timeout-minutes': stepTimeoutMinutes(step) } : {}),
        },
      ],
    };
  }
  return {
    name: `cairn ${pipeline.pipeline}`,
    on: {
      workflow_dispatch: {
        inputs: {
          run: {
            description: `Id of a recorded run of the ${pipeline.pipeline} pipeline`,
            required: true,
            type: 'string',
          },
        },
      },
    },
    permissions: { contents: 'read' },
    // One dispatch per run id at a time: a second would race the first on the same steps.
    concurrency: { group: `cairn-${pipeline.pipeline}-\${{ inputs.run }}`, 'cancel-in-progress': false },
    jobs,
  };
}
