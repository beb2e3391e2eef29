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
  // In place, not in a sandbox copy: the tests run segd as another user (nobody) to get EACCES,
  // and a sandbox is a private temporary directory that user cannot enter. Commit first; Stryker
  // restores every file when it ends, and at its next start after an interruption.
  inPlace: true,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  concurrency: 2,
  timeoutMS: 20_000,
  thresholds: { high: 85, low: 75, break: null },
};
