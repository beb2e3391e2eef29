/**
 * The protocol a test file's servers speak. The HTTP suites run twice (vitest.config.ts): over
 * plain HTTP/1.1, and with SEGD_TEST_TRANSPORT=h2 over HTTPS with HTTP/2, so every behaviour is
 * checked on both with one set of tests. The clients in http.ts follow the server's URL.
 */
import { startServer as start, type RunningServer, type ServerOptions } from '../../src/server/listen.js';
import { testPki } from './pki.js';

export const overH2 = process.env.SEGD_TEST_TRANSPORT === 'h2';

/** startServer() on this run's transport: with h2, HTTPS with the test CA's certificate. */
export function startServer(options: ServerOptions): Promise<RunningServer> {
  return start(overH2 ? { ...options, tls: testPki().files } : options);
}

/** Why a test is HTTP/1.1 only, printed when it is skipped over h2. */
export function h1Only(why: string): boolean {
  if (overH2) process.stderr.write(`skipped over h2: ${why}\n`);
  return overH2;
}
