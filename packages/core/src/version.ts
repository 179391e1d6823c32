import manifest from '../package.json' with { type: 'json' };

/** The version of @cairn/core that is running, recorded on every run. */
export const CORE_VERSION: string = manifest.version;
