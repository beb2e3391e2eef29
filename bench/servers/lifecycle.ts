// How the bench's server scripts start and end: `SCRIPT DIR PORT` (as servers.ts runs them), and
// SIGTERM or SIGINT closes every connection and exits 0, so servers.ts's stop sees a clean exit.
import type { Server } from 'node:http';

/** DIR and PORT from the command line; without both, the usage on stderr and exit 2. */
export function dirAndPort(script: string): { dir: string; port: number } {
  const [dir, port] = process.argv.slice(2);
  if (!dir || !port) {
    console.error(`usage: ${script} DIR PORT`);
    process.exit(2);
  }
  return { dir, port: Number(port) };
}

export function exitOnSignals(server: Server): void {
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
