/** Public surface of the content catalogue. */
export { indexTree, RACY_WINDOW_MS, type IndexOptions, type IndexResult, type IndexStats } from './indexer.js';
export { verifyTree, type VerifyOptions, type VerifyResult, type VerifyProblem, type VerifyProblemKind } from './verify.js';
export {
  MANIFEST_PATH,
  ManifestError,
  readManifest,
  writeManifestAtomic,
  checkManifestShape,
  serializeManifest,
  manifestFile,
  etagFor,
  reprDigestFor,
  expectationFor,
  catalogueLookup,
} from './manifest.js';
export { describeCatalogue, type CatalogueAsset, type CatalogueRendition } from './describe.js';
export {
  formatIndexReport,
  formatVerifyReport,
  indexReportJson,
  verifyReportJson,
  exitCodeForIndex,
  exitCodeForVerify,
  exitCodeForFailure,
  describeFailure,
  EXIT_OK,
  EXIT_PROBLEMS,
  EXIT_FAILURE,
} from './report.js';
export { validatePlaylist, resolveUri, extinfWithinTarget, type FileFacts, type FileLookup, type ResolvedUri } from './validate.js';
export { parsePlaylistText, isPlaylistPath } from './playlist.js';
export type * from './types.js';
