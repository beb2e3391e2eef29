/** Diagnostics written to memory, so a test can read the lines segd logs. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { diagnostics, type Diagnostics } from '../../src/observe/log.js';

export function capturedDiagnostics(): { diag: Diagnostics; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { diag: diagnostics(pino({ base: undefined }, sink)), lines };
}
