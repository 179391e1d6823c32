/**
 * `cairn doctor`: score a project against the MLOps levels of Google's
 * "MLOps: Continuous delivery and automation pipelines in machine learning",
 * from the project's real files and run history — never from which template
 * made it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pipeline } from '@cairn/core';

export interface Practice {
  id: string;
  /** The level the practice belongs to (1: automated pipeline, 2: CI/CD). */
  level: 1 | 2;
  title: string;
  ok: boolean;
  /** What was found, or what is missing. */
  detail: string;
  /** How to add it, when missing. */
  fix?: string;
}

export interface DoctorReport {
  projectDir: string;
  /** 0, 1 or 2: the highest level whose practices (and those below) all hold. */
  level: 0 | 1 | 2;
  practices: Practice[];
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

export async function diagnose(projectDir: string): Promise<DoctorReport> {
  const practices: Practice[] = [];
  const add = (p: Practice) => practices.push(p);
  const pjson = JSON.parse(read(join(projectDir, 'package.json')) || '{}');
  const deps: Record<string, string> = { ...pjson.dependencies, ...pjson.devDependencies };
  const scripts: Record<string, string> = pjson.scripts ?? {};

  // Load the real pipelines (and the stack for run history) when the project can be loaded.
  let pipelines: Pipeline[] = [];
  let loadError: string | undefined;
  let runs = 0;
  let succeededRuns = 0;
  let models = 0;
  let metadataName = '';
  let confDir = join(projectDir, 'conf');
  try {
    const { openStack, loadPipelines } = await import('./project');
    const stack = await openStack(projectDir, 'local');
    try {
      confDir = stack.confDir;
      metadataName = stack.metadata.name;
      pipelines = [...(await loadPipelines(stack.pipelinesDir)).values()];
      const history = await stack.metadata.listRuns({ limit: 1000 });
      runs = history.length;
      succeededRuns = history.filter((r) => r.status === 'succeeded').length;
      models = (await stack.metadata.listModels()).length;
    } finally {
      await stack.close();
    }
  } catch (error) {
    loadError = (error as Error).message.split('\n')[0];
  }
  const nodes = pipelines.flatMap((p) => p.nodes);
  const outputTypes = (pattern: RegExp) =>
    nodes.filter((n) =>
      Object.values(n.step.definition.outputs as Record<string, { name: string }>).some((t) =>
        pattern.test(t.name),
      ),
    );
  const stepsNamed = (pattern: RegExp) => nodes.filter((n) => pattern.test(n.name));

  add({
    id: 'pipeline',
    level: 1,
    title: 'Pipeline defined',
    ok: pipelines.length > 0,
    detail:
      pipelines.length > 0
        ? `${pipelines.map((p) => `${p.name} (${p.nodes.length} steps)`).join(', ')}`
        : loadError
          ? `could not load the project: ${loadError}`
          : 'no module in pipelines/ exports a pipeline',
    fix: loadError
      ? 'Install dependencies (npm install) and fix the error above.'
      : 'Export pipeline("name", () => { … }) from pipelines/<name>.ts.',
  });

  const missingConf = nodes.filter(
    (n) =>
      !existsSync(join(confDir, 'base', `${n.name}.yaml`)) &&
      !existsSync(join(confDir, 'base', `${n.name}.yml`)),
  );
  const noSchema = nodes.filter((n) => !n.step.definition.config);
  add({
    id: 'config',
    level: 1,
    title: 'One validated config per step',
    ok: nodes.length > 0 && missingConf.length === 0 && noSchema.length === 0,
    detail:
      nodes.length === 0
        ? 'no steps found'
        : missingConf.length + noSchema.length === 0
          ? `${nodes.length} steps, each with conf/base/<step>.yaml and a schema`
          : [
              missingConf.length ? `no conf/base file for ${missingConf.map((n) => n.name).join(', ')}` : '',
              noSchema.length ? `no config schema for ${noSchema.map((n) => n.name).join(', ')}` : '',
            ]
              .filter(Boolean)
              .join('; '),
    fix: 'Give each step a `config` schema (zod) and a conf/base/<step>.yaml file.',
  });

  const noOutputs = nodes.filter((n) => Object.keys(n.step.definition.outputs ?? {}).length === 0);
  add({
    id: 'artifacts',
    level: 1,
    title: 'Declared, tracked artifacts',
    ok: nodes.length > 0 && noOutputs.length === 0,
    detail:
      nodes.length === 0
        ? 'no steps found'
        : noOutputs.length
          ? `steps without outputs: ${noOutputs.map((n) => n.name).join(', ')}`
          : 'every step declares typed outputs',
    fix: "Declare each step's outputs with artifact types (json(), metrics(), model(), table()).",
  });

  add({
    id: 'metadata',
    level: 1,
    title: 'Metadata tracking (runs, lineage, cache)',
    ok: metadataName !== '' && metadataName !== 'memory' && succeededRuns > 0,
    detail:
      metadataName === ''
        ? 'the stack could not be opened'
        : metadataName === 'memory'
          ? 'the metadata store is in memory: nothing is kept between runs'
          : `${metadataName} store, ${runs} runs recorded (${succeededRuns} succeeded)`,
    fix:
      succeededRuns === 0 && metadataName && metadataName !== 'memory'
        ? 'Run the pipeline once: `cairn run`.'
        : 'Use a persistent metadata store (sqliteMetadata, postgresMetadata).',
  });

  const validation = [...stepsNamed(/valid|check|schema|quality/i)];
  add({
    id: 'data-validation',
    level: 1,
    title: 'Data validation step',
    ok: validation.length > 0,
    detail: validation.length
      ? `step ${validation.map((n) => n.name).join(', ')}`
      : 'no step validates the input data',
    fix: 'Add a step that checks the data against an expected schema and fails the run on bad data (e.g. validate).',
  });

  const evaluation = outputTypes(/^metrics$/);
  add({
    id: 'evaluation',
    level: 1,
    title: 'Offline evaluation',
    ok: evaluation.length > 0,
    detail: evaluation.length
      ? `metrics from ${evaluation.map((n) => n.name).join(', ')}`
      : 'no step produces a metrics artifact',
    fix: 'Add an evaluate step whose outputs include metrics().',
  });

  add({
    id: 'registry',
    level: 1,
    title: 'Model registry',
    ok: models > 0,
    detail: models > 0 ? `${models} registered models` : 'no model is registered in the metadata store',
    fix: 'Register trained models from a step (metadata.registerModel) and promote with `cairn registry promote`.',
  });

  // CI: the workflows, with `npm run x` expanded into the script it runs.
  const workflowsDir = join(projectDir, '.github', 'workflows');
  const workflows = list(workflowsDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => read(join(workflowsDir, f)));
  const expand = (text: string, depth = 0): string =>
    depth > 3
      ? text
      : text.replace(/npm(?:\s+run)?\s+([\w:-]+)/g, (whole, name: string) =>
          scripts[name] ? `${whole} (${expand(scripts[name]!, depth + 1)})` : whole,
        );
  const ci = workflows.map((w) => expand(w)).join('\n');
  const runsTests = /vitest|npm (?:run )?test|jest|node --test/.test(ci);
  const runsPipeline = /cairn\s+run/.test(ci);
  const gateStep = nodes.some((n) => /gate|evaluat/i.test(n.name)) && /cairn\s+run[^\n]*--env\s+ci/.test(ci);
  const gates = /gate/i.test(ci) || gateStep;
  add({
    id: 'ci',
    level: 2,
    title: 'CI runs tests, the pipeline and an evaluation gate',
    ok: workflows.length > 0 && runsTests && runsPipeline && gates,
    detail:
      workflows.length === 0
        ? 'no workflow in .github/workflows'
        : `tests ${runsTests ? '✓' : '✗'}, pipeline ${runsPipeline ? '✓' : '✗'}, evaluation gate ${gates ? '✓' : '✗'}`,
    fix: 'Add .github/workflows/ci.yml calling `npm run ci`, a script running the tests, `cairn run --env ci` and a gate.',
  });

  const deployDeps = Object.keys(deps).filter((d) => /deploy/.test(d));
  const deploySteps = stepsNamed(/deploy|serve|release/i);
  add({
    id: 'deployment',
    level: 2,
    title: 'Automated deployment',
    ok: deployDeps.length > 0 && deploySteps.length > 0,
    detail: deploySteps.length
      ? `steps ${deploySteps.map((n) => n.name).join(', ')}`
      : deployDeps.length
        ? `${deployDeps.join(', ')} installed but no deploy step`
        : 'no deployer plugin and no deploy step',
    fix: 'Add a deployer plugin (cairn add deploy-local) and a deploy step after the gate.',
  });

  const abDeps = Object.keys(deps).filter((d) => /abtest|growthbook|openfeature/.test(d));
  const abSteps = stepsNamed(/abtest|ab-test|canary|shadow|experiment/i);
  add({
    id: 'abtest',
    level: 2,
    title: 'A/B test or canary release',
    ok: abDeps.length > 0 || abSteps.length > 0,
    detail:
      abDeps.length || abSteps.length
        ? [...abDeps, ...abSteps.map((n) => `step ${n.name}`)].join(', ')
        : 'no A/B testing plugin or canary step',
    fix: 'Add an abtest plugin (cairn add abtest-local) and a canary/A-B step after deployment.',
  });

  const driftSteps = stepsNamed(/drift|monitor/i);
  const trigger = workflows.some(
    (w) => /schedule:|repository_dispatch|workflow_dispatch/.test(w) && /cairn\s+run|npm/.test(w),
  );
  add({
    id: 'drift',
    level: 2,
    title: 'Drift monitoring with a retraining trigger',
    ok: driftSteps.length > 0 && trigger,
    detail: `drift step ${driftSteps.length ? driftSteps.map((n) => n.name).join(', ') : '✗'}, retraining trigger ${trigger ? '✓' : '✗'}`,
    fix: 'Add a monitor step that compares live data with the training reference, and a scheduled workflow that retrains on drift.',
  });

  const cairnDeps = Object.entries(deps).filter(([name]) => name.startsWith('@cairn/') || /cairn/.test(name));
  const loose = cairnDeps.filter(([, spec]) => !/^[\^~]?\d+\.\d+\.\d+/.test(spec));
  const lock = existsSync(join(projectDir, 'package-lock.json'));
  add({
    id: 'pinned',
    level: 2,
    title: 'Pinned plugin versions',
    ok: cairnDeps.length > 0 && loose.length === 0 && lock,
    detail:
      loose.length > 0
        ? `not pinned: ${loose.map(([n, s]) => `${n}@${s}`).join(', ')}`
        : !lock
          ? 'no package-lock.json'
          : `${cairnDeps.length} Cairn packages pinned by version and lockfile`,
    fix: 'Depend on released versions (^x.y.z) and commit package-lock.json.',
  });

  const levelOk = (level: 1 | 2) => practices.filter((p) => p.level === level).every((p) => p.ok);
  const level = levelOk(1) ? (levelOk(2) ? 2 : 1) : 0;
  return { projectDir, level, practices };
}
