/**
 * Catalogue worker (piscina). Default export: hash one file (CRC32C + SHA-256 in one pass).
 * Named export `parse`: read and parse one playlist with hls-parser.
 * Loaded by src/catalogue/pool.ts; under tsx/vitest as .ts, compiled as dist/workers/hash.js.
 */
import { readFileSync } from 'node:fs';
import { hashFileSync, type HashOutcome, type HashTask } from '../src/catalogue/hashing.js';
import { carry } from '../src/pool/carry.js';
import { parsePlaylistText } from '../src/catalogue/playlist.js';
import type { ParsedPlaylist } from '../src/catalogue/types.js';

/** Exceptions come back as values with their errno code (see src/pool/carry.ts). */
export default carry((task: HashTask): HashOutcome => hashFileSync(task));

export function parse(task: { path: string; rel: string }): ParsedPlaylist {
  let text: string;
  try {
    text = readFileSync(task.path, 'utf8');
  } catch (err) {
    return { kind: 'invalid', path: task.rel, code: 'unreadable', error: `cannot read: ${(err as Error).message}`, diagnostics: [] };
  }
  return parsePlaylistText(text, task.rel);
}
