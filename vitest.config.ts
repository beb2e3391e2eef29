import { defineConfig } from 'vitest/config';

/**
 * The suites of HTTP behaviour that run a second time over HTTPS with HTTP/2
 * (test/helpers/transport.ts): one handler serves both protocols, and these prove it.
 */
const OVER_H2 = ['test/serve.test.ts', 'test/fuzz.test.ts', 'test/serve-integrity.test.ts', 'test/read-tier.test.ts', 'test/edge.test.ts', 'test/edge-miss.test.ts', 'test/rot.test.ts'];

/** Settings every run shares (vitest.mutate.config.ts too). */
export const SHARED = {
  // Each file in its own process: the native addon, signal handlers and servers stay isolated.
  pool: 'forks',
  testTimeout: 30_000,
  hookTimeout: 60_000,
} as const;

export default defineConfig({
  test: {
    ...SHARED,
    projects: [
      { extends: true, test: { name: 'http1', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'h2', include: OVER_H2, env: { SEGD_TEST_TRANSPORT: 'h2' } } },
    ],
  },
});
