import { type ArtifactMap, type CommandStepDefinition, commandStep, type Step } from '@cairn/core';

/**
 * The interpreter every Python step and the model server run: `python3`
 * unless CAIRN_PYTHON names another (a virtualenv's `.venv/bin/python`).
 */
export const PYTHON_COMMAND = '"${CAIRN_PYTHON:-python3}"';

/** The helper module every step script imports; a change to it re-runs them all. */
export const STEP_HELPER = 'python/cairn_step.py';

/**
 * A step whose work is a Python script: Cairn validates its config with the
 * schema, writes it and the inputs where `cairn_step.Step()` reads them,
 * runs `python3 <script>` in the project folder, and checks and stores the
 * outputs the script leaves. The script and the helper module are the
 * step's code for the cache, so editing either re-runs the step; list any
 * other file it reads in `sources`.
 */
export function pythonStep<Config, Inputs extends ArtifactMap = {}, Outputs extends ArtifactMap = {}>(
  definition: Omit<CommandStepDefinition<Config, Inputs, Outputs>, 'command'> & {
    /** The script, relative to the project: `python/train.py`. */
    script: string;
  },
): Step<Config, Inputs, Outputs> {
  const { script, sources = [], ...rest } = definition;
  return commandStep<Config, Inputs, Outputs>({
    ...rest,
    command: `${PYTHON_COMMAND} ${script}`,
    sources: [script, STEP_HELPER, ...sources],
  });
}
