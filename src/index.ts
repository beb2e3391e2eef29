/** segd as a library: see README.md, "Using segd from Node". */
export { createSegd, SegdError, type Segd, type SegdOptions } from './segd.js';
export { startServer, type RunningServer, type ServerOptions } from './server/listen.js';
export { parseRange, type ByteRange, type RangeResult } from './http/range.js';
export { evaluatePreconditions, ifRangeAllows } from './http/conditional.js';
export { indexTree, type IndexOptions, type IndexResult } from './catalogue/indexer.js';
export { verifyTree, type VerifyOptions, type VerifyResult, type VerifyProblem } from './catalogue/verify.js';
export type { Progress, ProgressReporter } from './catalogue/progress.js';
