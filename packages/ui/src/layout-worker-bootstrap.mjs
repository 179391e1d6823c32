// Source-mode entry of the layout thread (inside the monorepo, where this
// package runs from TypeScript): loader hooks are per thread, so register tsx
// here before loading the TypeScript worker. Built packages use layout-worker.js.
import { register } from 'tsx/esm/api';

register();
await import('./layout-worker.ts');
