// The test set StrykerJS runs against each mutant (npm run mutate): every test but those that
// drive whole external programs (the browser, the benchmark harnesses), which add minutes per
// run and cover no line of the mutated code that the others do not. One pass, over HTTP/1.1: the
// h2 project of vitest.config.ts would double every mutant's run for the few lines only it covers.
import { defineConfig } from 'vitest/config';
import { SHARED } from './vitest.config.js';

export default defineConfig({
  test: {
    ...SHARED,
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser.test.ts', 'test/bench.test.ts', 'test/edge-bench.test.ts', 'node_modules/**'],
  },
});
