/**
 * @cairn/cli — the `cairn` command. The library entry exposes the pieces
 * other tools reuse: the command table, opening a project's stack, the
 * scaffolder's name helpers and the config editor used by `cairn add`.
 */
export { COMMANDS } from './commands';
export { addPluginToConfig } from './lib/config-edit';
export { type DoctorReport, diagnose, type Practice } from './lib/doctor';
export { type NameForms, nameForms, npmNameProblems } from './lib/names';
export { type OpenedProject, openProjectFor, requireProjectDir, withProject } from './lib/project';
