import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Says, after the summary, when the browser tests were skipped for want of Chromium.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    benchmark: {
      include: ['bench/**/*.bench.ts'],
    },
  },
});
