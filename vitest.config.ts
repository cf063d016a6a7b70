import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Each worker keeps the modules it loaded from one test file to the next: re-importing them per file
    // took 43 s of the suite's time. So a test file must not mock a module (vi.mock) or leave a fake timer,
    // a stubbed env var or a spy behind; inject what a test needs to see instead.
    isolate: false,
    // Two workers on two cores: most suites wait on real processes, bakes and leases, not on the CPU.
    maxWorkers: 2,
  },
});
