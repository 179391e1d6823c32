/**
 * `cairn doctor`: score a project against the MLOps levels of Google's
 * "MLOps: Continuous delivery and automation pipelines in machine learning",
 * from the project's real files and run history — never from which template
 * made it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

/** The nearest folder above `dir` whose package.json declares workspaces (a monorepo holding the project). */
function workspaceRoot(dir: string): string | undefined {
  for (let at = dirname(dir); ; at = dirname(at)) {
    const pjson = read(join(at, 'package.json'));
    if (pjson && JSON.parse(pjson).workspaces) return at;
    if (dirname(at) === at) return undefined;
  }
}

/** CI definitions of a folder: GitHub workflows, and a `.ci/` folder of scripts. */
function ciFiles(dir: string): string[] {
  const workflows = join(dir, '.github', 'workflows');
  const scripts = join(dir, '.ci');
  return [
    ...list(workflows)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => join(workflows, f)),
    ...list(scripts).map((f) => join(scripts, f)),
  ];
}

/**
 * @param env the environment whose metadata store holds the run history to judge
 */
export async function diagnose(projectDir: string, env = 'local'): Promise<DoctorReport> {
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
  let modelDetail = '';
  let metadataName = '';
  let storageName = '';
  let confDir = join(projectDir, 'conf');
  /** Other environments' storage and metadata, e.g. `team: s3 + postgres`. */
  const otherEnvs: string[] = [];
  /** Deployer and A/B engines configured in any environment, e.g. `local (env local)`. */
  const configured: Record<'deployer' | 'abtest', string[]> = { deployer: [], abtest: [] };
  try {
    const { openProject } = await import('@cairn/runtime');
    const core = await import('@cairn/core');
    const stack = await openProject(projectDir, { env, exact: true });
    try {
      confDir = stack.confDir;
      metadataName = stack.metadata.name;
      storageName = stack.storage.name;
      // One walk over every environment: what differs from this one, and the delivery plugins.
      for (const name of ['local', ...Object.keys(stack.config.env ?? {})]) {
        const slots = core.stackFor(stack.config, name);
        if (name !== env && name !== 'local') {
          const differs = [slots.storage?.name, slots.metadata?.name].filter(
            (n, i) => n && n !== [storageName, metadataName][i],
          );
          if (differs.length > 0) otherEnvs.push(`env ${name}: ${differs.join(' + ')}`);
        }
        for (const slot of ['deployer', 'abtest'] as const) {
          const plugin = slots[slot];
          const entry = plugin && `${plugin.name} (env ${name})`;
          if (entry && !configured[slot].some((c) => c.startsWith(`${plugin.name} `)))
            configured[slot].push(entry);
        }
      }
      pipelines = [...(await stack.pipelines()).values()];
      const history = await stack.metadata.listRuns({ limit: 1000 });
      runs = history.length;
      succeededRuns = history.filter((r) => r.status === 'succeeded').length;
      const registered = await stack.metadata.listModels();
      models = registered.length;
      const described: string[] = [];
      for (const m of registered.slice(0, 3)) {
        described.push(
          `${m.model}: ${m.latest} version${m.latest === 1 ? '' : 's'}, ${m.production !== undefined ? `v${m.production} in production` : m.staging !== undefined ? `v${m.staging} in staging` : 'none in production'}`,
        );
      }
      modelDetail = described.join('; ');
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

  const elsewhere = otherEnvs.length > 0 ? `; ${otherEnvs.join('; ')}` : '';
  add({
    id: 'metadata',
    level: 1,
    title: 'Metadata tracking (runs, lineage, cache)',
    ok: metadataName !== '' && metadataName !== 'memory' && succeededRuns > 0,
    detail:
      metadataName === ''
        ? 'the stack could not be opened'
        : metadataName === 'memory'
          ? `the metadata store of env ${env} is in memory: nothing is kept between runs${elsewhere}`
          : `${metadataName} store (env ${env}), ${runs} runs recorded (${succeededRuns} succeeded); artifacts in ${storageName}${elsewhere}`,
    fix:
      succeededRuns === 0 && metadataName && metadataName !== 'memory'
        ? `Run the pipeline once: \`cairn run${env === 'local' ? '' : ` --env ${env}`}\`.`
        : 'Use a persistent metadata store: `cairn add metadata-sqlite` (one machine) or `cairn add metadata-postgres` (a team).',
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
    detail:
      models > 0
        ? `${models} registered model${models === 1 ? '' : 's'} (${modelDetail})`
        : 'no model is registered in the metadata store',
    fix: 'Add a register step, `registerModelStep()` from @cairn/delivery, after evaluate (conf/base/register.yaml names the model), then `cairn run`.',
  });

  // The promotion gate: a step comparing the candidate with production (promotionGateStep() writes `decision`).
  const gateNodes = nodes.filter(
    (n) =>
      /gate|promot/i.test(n.name) || (uses(n, 'registry') && 'decision' in (n.step.definition.outputs ?? {})),
  );
  add({
    id: 'gate',
    level: 2,
    title: 'Promotion gate against production',
    ok: gateNodes.length > 0,
    detail: gateNodes.length
      ? `step ${gateNodes.map((n) => n.name).join(', ')} promotes a candidate only when it beats production`
      : 'no step compares the candidate with the production model',
    fix: 'Add a gate step, `promotionGateStep()` from @cairn/delivery, after register (conf/base/gate.yaml: metric, minImprovement, allowedRegression).',
  });

  // CI: the project's workflows, else those of the monorepo holding it; `npm run x` expanded into the script it runs.
  let ciFound = ciFiles(projectDir);
  let ciScripts = scripts;
  let ciWhere = '';
  const root = ciFound.length === 0 ? workspaceRoot(projectDir) : undefined;
  if (root) {
    ciFound = ciFiles(root);
    ciScripts = JSON.parse(read(join(root, 'package.json')) || '{}').scripts ?? {};
    if (ciFound.length > 0)
      ciWhere = ` (the workspace's CI: ${ciFound.map((f) => relative(root, f)).join(', ')})`;
  }
  const expand = (text: string, table: Record<string, string>, depth = 0): string =>
    depth > 3
      ? text
      : text.replace(/npm(?:\s+run)?\s+([\w:-]+)/g, (whole, name: string) =>
          table[name] ? `${whole} (${expand(table[name]!, table, depth + 1)})` : whole,
        );
  let ci = ciFound.map((f) => expand(read(f), ciScripts)).join('\n');
  // A workspace CI that runs every package's test script runs this project's too.
  if (
    root &&
    /nx\s+run-many[^\n]*\btest\b|--workspaces|\bturbo\s+run[^\n]*\btest\b/.test(ci) &&
    scripts.test
  ) {
    ci += `\n${expand(scripts.test, scripts)}`;
  }
  const workflows = ciFound;
  const runsTests = /vitest|npm (?:run )?test|jest|node --test/.test(ci);
  // Tests that drive the real pipeline (runPipeline) run it in CI as well.
  const testFiles = [
    ...list(join(projectDir, 'test'))
      .filter((f) => /\.[cm]?[jt]s$/.test(f))
      .map((f) => join(projectDir, 'test', f)),
    ...list(join(projectDir, 'steps'))
      .filter((f) => /\.test\.[cm]?[jt]s$/.test(f))
      .map((f) => join(projectDir, 'steps', f)),
  ];
  const pipelineInCli = /cairn\s+run/.test(ci);
  const pipelineInTests = runsTests && testFiles.some((f) => /runPipeline\(/.test(read(f)));
  const runsPipeline = pipelineInCli || pipelineInTests;
  const gates = /cairn\s+gate\b/.test(ci);
  add({
    id: 'ci',
    level: 2,
    title: 'CI runs tests, the pipeline and the evaluation gate',
    ok: workflows.length > 0 && runsTests && runsPipeline && gates,
    detail:
      workflows.length === 0
        ? 'no workflow in .github/workflows'
        : `tests ${runsTests ? '✓' : '✗'}, pipeline ${runsPipeline ? (pipelineInCli ? '✓' : '✓ (in the tests)') : '✗'}, evaluation gate ${gates ? '✓' : '✗ (no `cairn gate`)'}${ciWhere}`,
    fix: 'Add .github/workflows/ci.yml calling `npm run ci`: `vitest run && cairn run --env ci && cairn gate latest --env ci` (the gate fails the job when the candidate is worse than production).',
  });

  // A delivery practice holds when the stack names the plugin that does it
  // (cairn.config.ts, any environment) and a pipeline step uses it.
  const declares = (service: 'deployer' | 'abtest') => nodes.filter((n) => uses(n, service));
  const deploySteps = [...new Set([...declares('deployer'), ...stepsNamed(/deploy|serve|release/i)])];
  const deployers = configured.deployer;
  add({
    id: 'deployment',
    level: 2,
    title: 'Automated deployment',
    ok: deployers.length > 0 && deploySteps.length > 0,
    detail: `deployer ${deployers.length ? deployers.join(', ') : '✗'}, deploy step ${deploySteps.length ? deploySteps.map((n) => n.name).join(', ') : '✗'}`,
    fix: deployers.length
      ? "Add a deploy step after the gate that deploys the production version through the stack's deployer (canary or blue-green)."
      : '`cairn add deploy-local` puts a local HTTP model server in the stack (canary, shadow, blue-green, rollback); then add a step after the gate that deploys the production version through it.',
  });

  const abEngines = configured.abtest;
  const abSteps = [...new Set([...declares('abtest'), ...stepsNamed(/abtest|ab-test|experiment/i)])];
  // A deploy step whose config rolls out by canary or shadow is a canary release.
  const canaries = declares('deployer').filter((n) =>
    /^strategy:\s*['"]?(canary|shadow)\b/m.test(read(join(confDir, 'base', `${n.name}.yaml`))),
  );
  add({
    id: 'abtest',
    level: 2,
    title: 'A/B test or canary release',
    ok: (abEngines.length > 0 && abSteps.length > 0) || canaries.length > 0,
    detail:
      [
        canaries.length ? `canary releases by ${canaries.map((n) => `step ${n.name}`).join(', ')}` : '',
        abEngines.length && abSteps.length
          ? `experiments on ${abEngines.join(', ')} by ${abSteps.map((n) => `step ${n.name}`).join(', ')}`
          : '',
      ]
        .filter(Boolean)
        .join('; ') ||
      `A/B engine ${abEngines.length ? abEngines.join(', ') : '✗'}, experiment or canary step ${abSteps.length ? abSteps.map((n) => n.name).join(', ') : '✗'}`,
    fix: abEngines.length
      ? 'Add a step that creates the experiment for the deployed version and one that analyzes it and concludes, or set `strategy: canary` in the deploy step config.'
      : 'Set `strategy: canary` (and `percent`) in the deploy step config for canary releases; `cairn add abtest-local` puts the A/B engine in the stack (deterministic assignment, exposure and outcome logging, sequential analysis) for experiment steps.',
  });

  const driftSteps = stepsNamed(/drift|monitor/i);
  const trigger = workflows
    .map(read)
    .some((w) => /schedule:|repository_dispatch|workflow_dispatch/.test(w) && /cairn\s+run|npm/.test(w));
  add({
    id: 'drift',
    level: 2,
    title: 'Drift monitoring with a retraining trigger',
    ok: driftSteps.length > 0 && trigger,
    detail: `drift step ${driftSteps.length ? driftSteps.map((n) => n.name).join(', ') : '✗'}, retraining trigger ${trigger ? '✓' : '✗'}`,
    fix: 'Add a monitoring pipeline with `driftStep()` from @cairn/tabular (new data against the training data), and a scheduled workflow that runs it and retrains when `cairn drift latest` exits 1 (the project-tabular template has both: pipelines/monitoring.ts, .github/workflows/monitor.yml).',
  });

  const cairnDeps = Object.entries(deps).filter(([name]) => name.startsWith('@cairn/') || /cairn/.test(name));
  const loose = cairnDeps.filter(([, spec]) => !/^[\^~]?\d+\.\d+\.\d+/.test(spec));
  const lockDir = [projectDir, workspaceRoot(projectDir)].find(
    (dir) => dir && existsSync(join(dir, 'package-lock.json')),
  );
  add({
    id: 'pinned',
    level: 2,
    title: 'Pinned plugin versions',
    ok: cairnDeps.length > 0 && loose.length === 0 && lockDir !== undefined,
    detail:
      loose.length > 0
        ? `not pinned: ${loose.map(([n, s]) => `${n}@${s}`).join(', ')}`
        : lockDir === undefined
          ? 'no package-lock.json'
          : `${cairnDeps.length} Cairn packages pinned by version (${cairnDeps.map(([n]) => n.replace('@cairn/', '')).join(', ')}) and ${lockDir === projectDir ? 'the' : "the workspace's"} lockfile`,
    fix: 'Depend on released versions (^x.y.z, not file: links or tags) and commit package-lock.json.',
  });

  const levelOk = (level: 1 | 2) => practices.filter((p) => p.level === level).every((p) => p.ok);
  const level = levelOk(1) ? (levelOk(2) ? 2 : 1) : 0;
  return { projectDir, level, practices };
}

/** Whether a step uses a lent service outright (`'abtest?'`, "when the stack has one", does not count). */
function uses(node: { step: { definition: { uses?: readonly string[] } } }, service: string): boolean {
  return (node.step.definition.uses ?? []).includes(service);
}
