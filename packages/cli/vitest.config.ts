import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// The tests spawn the CLI and npm: slow, and they share two cores with everyone.
// @actions/workflow-parser imports a JSON file without an import attribute, which
// Node refuses: inlined, vite transforms it instead.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      fileParallelism: false,
      server: { deps: { inline: ['@actions/workflow-parser'] } },
    },
  }),
);
