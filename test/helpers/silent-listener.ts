/**
 * A port that swallows connection attempts, as a host behind a dropping firewall does: a listener
 * whose accept queue is full, so the kernel drops every further SYN and a client's connect hangs
 * until the client's own timeout. The listener lives in a worker thread whose event loop is held
 * by Atomics.wait, so nothing ever accepts.
 */
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface SilentListener {
  readonly port: number;
  close(): Promise<void>;
}

const LISTENER = `
const { parentPort, workerData } = require('node:worker_threads');
const server = require('node:net').createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(workerData, 0, 0);
  server.close();
});
`;

/** Resolves with the socket once connected, or with undefined if it is still hanging after `ms`. */
function tryConnect(port: number, ms: number): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, ms);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function startSilentListener(): Promise<SilentListener> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(LISTENER, { eval: true, workerData: gate });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // Queue connections until one hangs: from then on the queue is full and SYNs are dropped.
  const fillers: Socket[] = [];
  for (;;) {
    const s = await tryConnect(port, 300);
    if (s === undefined) break;
    fillers.push(s);
    if (fillers.length > 64) throw new Error(`port ${port} keeps accepting: cannot make it silent`);
  }
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}
