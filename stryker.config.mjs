// Mutation testing (npm run mutate): StrykerJS changes one thing at a time in the code under
// test and runs the tests that cover it; a change no test notices is a gap. Scoped to the code
// whose bugs would serve a wrong byte or a wrong answer: HTTP semantics, the request path, the
// store and its tiers, the pool's workers and the catalogue. `npm run mutate -- --mutate <glob>`
// narrows it; the incremental file makes a re-run test only what changed since the last one.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: ['src/http/**/*.ts', 'src/serve/**/*.ts', 'src/store/**/*.ts', 'workers/**/*.ts', 'src/catalogue/**/*.ts'],
  ignorePatterns: ['dist', 'native/target', 'bench/results', 'bench/.data', 'test/artifacts', 'reports'],
  // Only our TypeScript gets `// @ts-nocheck`: left to itself Stryker also rewrote the demo's
  // MPEG-TS segments (.ts) as text, doubling them with replacement characters.
  disableTypeChecks: '{src,workers,test,bench}/**/*.ts',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  concurrency: 2,
  timeoutMS: 20_000,
  thresholds: { high: 85, low: 75, break: null },
};
