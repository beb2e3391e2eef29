// express 5 + serve-static with their defaults. Usage: serve-static.ts DIR PORT
import express from 'express';
import serveStatic from 'serve-static';
import { exitOnSignals } from './lifecycle.js';

const [dir, portArg] = process.argv.slice(2);
if (!dir || !portArg) {
  console.error('usage: serve-static.ts DIR PORT');
  process.exit(2);
}

const app = express();
app.use(serveStatic(dir));
const server = app.listen(Number(portArg), '127.0.0.1', () => {
  console.log(`serve-static: listening on http://127.0.0.1:${portArg}`);
});

exitOnSignals(server);
