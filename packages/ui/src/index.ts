/**
 * `@cairn/ui`: the dashboard `cairn ui` starts over a project's opened stack.
 *
 * @example
 * ```ts
 * const ui = await startUi({ metadata, storage, project: { name: 'penguins', env: 'local' } });
 * console.log(ui.url); // http://127.0.0.1:4300
 * await ui.close();
 * ```
 */
export {
  type RunFilters,
  type RunsPage,
  reasonFor,
  runsPage,
  runView,
  type StepReason,
  type StepState,
} from './data';
export { layoutGraph, type PlacedGraph } from './graph';
export { runEvents } from './live';
export { startUi, type UiOptions, type UiServer } from './server';
