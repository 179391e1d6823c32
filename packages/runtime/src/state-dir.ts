/**
 * Where Cairn keeps a project's local state (artifacts, metadata, scratch,
 * the code and git snapshots): the config's `stateDir`, relative to the
 * project, or `.cairn`. One place, so that the run, its provenance, its
 * services and a step on a worker never disagree on it.
 */
import { resolve } from 'node:path';

/** The state folder when the project's config names none (core's `StackConfig.stateDir` default). */
export const DEFAULT_STATE_DIR = '.cairn';

/** The absolute state folder of the project in `projectDir`. */
export function stateDirOf(projectDir: string, stateDir?: string): string {
  return resolve(projectDir, stateDir ?? DEFAULT_STATE_DIR);
}
