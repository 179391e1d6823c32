/**
 * The pieces of @oclif/core that bin/run.js needs to start the built CLI, and
 * the help class package.json's `oclif.helpClass` names (here, so that help
 * loads no file beyond this one). The build bundles @oclif/core (and its
 * dependencies) into a chunk shared by this entry and dist/commands.js: one
 * copy of its classes, and one file to load instead of some 180 — most of
 * `cairn --help`'s start-up cost.
 */
export { execute } from '@oclif/core/execute';
export { settings } from '@oclif/core/settings';
export { default as Help } from './help';
