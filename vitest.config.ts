import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One small finished run for every test file that needs one (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // Tests drive the real CLI, TensorFlow.js and chromium: they are slow by nature, and on
    // 2 cores running files in parallel only makes each one slower.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
