// How the bench's node:http server scripts end: SIGTERM or SIGINT closes every connection and
// exits 0, so servers.ts's stop sees a clean exit.
import type { Server } from 'node:http';

export function exitOnSignals(server: Server): void {
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
