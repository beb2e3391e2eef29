/**
 * The one place the catalogue binds to the CRC32C implementation: src/native/index.ts (the Rust addon
 * with SSE4.2/ARMv8 CRC, or its pure-TS fallback). Streaming: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
import { native } from '../native/index.js';

export const crc32c = (data: Uint8Array, seed?: number): number => native.crc32c(data, seed);
/** e.g. "addon/sse4.2-3way" or "fallback/ts-table". */
export const crcImplementation = (): string => `${native.kind}/${native.crcImpl}`;
