import { defineConfig } from 'tsup';

// The published package is built JavaScript with type declarations; @cairn/core stays a peer.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
});
