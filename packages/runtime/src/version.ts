import manifest from '../package.json' with { type: 'json' };

/** The version of @cairn/runtime that is running, recorded on every run beside @cairn/core's. */
export const RUNTIME_VERSION: string = manifest.version;
