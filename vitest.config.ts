import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two workers on two cores: most suites wait on real processes, bakes and leases, not on the CPU.
    maxWorkers: 2,
  },
});
