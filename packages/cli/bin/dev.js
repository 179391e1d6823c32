#!/usr/bin/env node
// Development entry: runs the CLI from its TypeScript sources, no build needed.
//   node --conditions=@cairn/source --import tsx packages/cli/bin/dev.js <command>
// (plain `node bin/dev.js` works too: run.js adds the condition and tsx itself).
globalThis.__cairnFromSource = true;
await import('./run.js');
