/**
 * Every command, by oclif id (`runs:show` is typed `cairn runs show`). This
 * is oclif's "explicit" command target: command modules import only
 * @oclif/core; each loads what it needs inside `run()`.
 */
import Add from './commands/add';
import ArtifactsGet from './commands/artifacts/get';
import Artifacts from './commands/artifacts/index';
import ArtifactsShow from './commands/artifacts/show';
import Compare from './commands/compare';
import Config from './commands/config';
import Deploy from './commands/deploy';
import Doctor from './commands/doctor';
import Drift from './commands/drift';
import EndpointsHistory from './commands/endpoints/history';
import Endpoints from './commands/endpoints/index';
import EndpointsPromote from './commands/endpoints/promote';
import EndpointsRemove from './commands/endpoints/remove';
import EndpointsRollback from './commands/endpoints/rollback';
import EndpointsShow from './commands/endpoints/show';
import EndpointsTraffic from './commands/endpoints/traffic';
import ExperimentsConclude from './commands/experiments/conclude';
import Experiments from './commands/experiments/index';
import ExperimentsShow from './commands/experiments/show';
import ExportArgo from './commands/export/argo';
import ExportGithubActions from './commands/export/github-actions';
import ExportK8s from './commands/export/k8s';
import Gate from './commands/gate';
import Lineage from './commands/lineage';
import LoadTest from './commands/loadtest';
import Logs from './commands/logs';
import New from './commands/new';
import Plan from './commands/plan';
import RegistryHistory from './commands/registry/history';
import Registry from './commands/registry/index';
import RegistryPromote from './commands/registry/promote';
import RegistryVersions from './commands/registry/versions';
import Report from './commands/report';
import Run from './commands/run';
import Runs from './commands/runs/index';
import RunsShow from './commands/runs/show';
import Serve from './commands/serve';
import StepExec from './commands/step/exec';
import Ui from './commands/ui';
import Worker from './commands/worker';

export const COMMANDS = {
  new: New,
  run: Run,
  plan: Plan,
  runs: Runs,
  'runs:show': RunsShow,
  artifacts: Artifacts,
  'artifacts:show': ArtifactsShow,
  'artifacts:get': ArtifactsGet,
  lineage: Lineage,
  logs: Logs,
  registry: Registry,
  'registry:versions': RegistryVersions,
  'registry:promote': RegistryPromote,
  'registry:history': RegistryHistory,
  report: Report,
  compare: Compare,
  gate: Gate,
  drift: Drift,
  deploy: Deploy,
  loadtest: LoadTest,
  serve: Serve,
  'step:exec': StepExec,
  endpoints: Endpoints,
  'endpoints:show': EndpointsShow,
  'endpoints:history': EndpointsHistory,
  'endpoints:traffic': EndpointsTraffic,
  'endpoints:promote': EndpointsPromote,
  'endpoints:rollback': EndpointsRollback,
  'endpoints:remove': EndpointsRemove,
  experiments: Experiments,
  'experiments:show': ExperimentsShow,
  'experiments:conclude': ExperimentsConclude,
  'export:argo': ExportArgo,
  'export:github-actions': ExportGithubActions,
  'export:k8s': ExportK8s,
  config: Config,
  add: Add,
  doctor: Doctor,
  worker: Worker,
  ui: Ui,
};
