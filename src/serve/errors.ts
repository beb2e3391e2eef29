/** The error answers segd gives, in one table: status, reason text, and when to log. */
import type { ServerResponse } from 'node:http';
import { cut } from './drained.js';

export const ERRORS = {
  badRequest: { status: 400, message: 'Bad Request' },
  forbidden: { status: 403, message: 'Forbidden' },
  notFound: { status: 404, message: 'Not Found' },
  gone: { status: 410, message: 'Gone' },
  methodNotAllowed: { status: 405, message: 'Method Not Allowed' },
  uriTooLong: { status: 414, message: 'URI Too Long' },
  internal: { status: 500, message: 'Internal Server Error' },
  badGateway: { status: 502, message: 'Bad Gateway: the origin did not answer' },
  integrity: { status: 503, message: 'Service Unavailable: content failed its integrity check' },
  gatewayTimeout: { status: 504, message: 'Gateway Timeout: the origin did not answer in time' },
} as const;

export type ErrorName = keyof typeof ERRORS;

/** A short text body; CORS headers go on errors too, so a player's script can read the status. */
export function sendError(res: ServerResponse, name: ErrorName, cors: readonly string[], extra: readonly string[] = []): number {
  const { status, message } = ERRORS[name];
  const body = `${status} ${message}\n`;
  if (res.headersSent) {
    cut(res);
    return status;
  }
  res.writeHead(status, [
    'Content-Type', 'text/plain; charset=utf-8',
    'Content-Length', String(Buffer.byteLength(body)),
    'Cache-Control', 'no-store',
    ...cors,
    ...extra,
  ]);
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return status;
}
