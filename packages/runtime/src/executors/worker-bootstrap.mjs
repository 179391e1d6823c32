// Source-mode entry of worker-pool threads (inside the monorepo, where the
// core runs from TypeScript): loader hooks are per thread, so register tsx
// here before loading the TypeScript worker. Built packages use worker.js.
import { register } from 'tsx/esm/api';

register();
// Tell importModule (load.ts) that this thread's loader is in place.
globalThis[Symbol.for('cairn.tsx-registered')] = Promise.resolve();
await import('./worker.ts');
