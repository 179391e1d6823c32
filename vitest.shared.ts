import { defineConfig } from 'vitest/config';

/**
 * Shared vitest settings. Workspace packages resolve to their TypeScript
 * sources through the `@cairn/source` export condition, so nothing has to be
 * built before tests run; `--conditions` makes Node's own resolver (worker
 * threads, child processes) do the same.
 */
export const shared = defineConfig({
  resolve: { conditions: ['@cairn/source'] },
  ssr: { resolve: { conditions: ['@cairn/source'] } },
  test: {
    execArgv: ['--conditions=@cairn/source'],
    // A guard against hangs, never a speed assertion: a loaded CI machine may be
    // many times slower than a quiet one. Timing belongs in bench/.
    testTimeout: 900_000,
    hookTimeout: 900_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
