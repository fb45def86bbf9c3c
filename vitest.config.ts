import { defineConfig } from 'vitest/config';

// Tests run against the sources: every workspace package exports a `fermix-source` condition
// that points at src/, so no build is needed before `pnpm test`.
export default defineConfig({
  resolve: { conditions: ['fermix-source'] },
  ssr: { resolve: { conditions: ['fermix-source'], externalConditions: ['fermix-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The JSON report is what .ci/run reads its counts from.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
