import { defineConfig } from 'vitest/config';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources, so a package's tests never wait for another package's build.
    alias: {
      '@ssmax/core/testing': fileURLToPath(new URL('./packages/core/src/testing/index.ts', import.meta.url)),
      '@ssmax/core/fuzz': fileURLToPath(new URL('./packages/core/src/fuzz/index.ts', import.meta.url)),
      '@ssmax/core': pkg('core'),
      '@ssmax/sim-org/testing': fileURLToPath(new URL('./packages/sim-org/src/testing/index.ts', import.meta.url)),
      '@ssmax/sim-net': pkg('sim-net'),
      '@ssmax/sim-registry': pkg('sim-registry'),
      '@ssmax/sim-org': pkg('sim-org'),
      '@ssmax/sim-attacker': pkg('sim-attacker'),
      '@ssmax/world': pkg('world'),
      '@ssmax/bench': fileURLToPath(new URL('./bench/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts', 'scenarios/**/*.test.ts', 'bench/src/**/*.test.ts'],
    // Native PKCS#11 modules and child processes are happier in forked workers than in threads.
    pool: 'forks',
    // Two test files at a time at least: vitest's default (CPUs − 1) runs them one by one on a 2-core machine,
    // where most files wait on servers, Dovecot and containers. Measured on 2 cores (issue 11): the whole
    // suite took 822 s with two workers (all passed), 1,374 s with one (before two fixes that save about 140 s).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Prints the outside oracles' versions once per run (issue 11).
    globalSetup: ['./vitest.global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
