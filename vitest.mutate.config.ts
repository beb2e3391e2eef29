// The test set StrykerJS runs against each mutant (npm run mutate): every test but those that
// drive whole external programs (the browser, the benchmark harnesses), which add minutes per
// run and cover no line of the mutated code that the others do not.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/browser.test.ts', 'test/bench.test.ts', 'test/edge-bench.test.ts', 'node_modules/**'],
    },
  }),
);
