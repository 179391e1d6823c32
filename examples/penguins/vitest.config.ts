import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['steps/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests train real forests on the project's data: a hang guard, not a speed bound (a larger data set or a busy CI runner is slower).
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
