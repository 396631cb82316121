import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests drive the real CLI, TensorFlow.js and chromium: they are slow by nature, and on
    // 2 cores running files in parallel only makes each one slower.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
