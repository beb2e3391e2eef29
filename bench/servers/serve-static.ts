// express 5 + serve-static with their defaults. Usage: serve-static.ts DIR PORT
import express from 'express';
import serveStatic from 'serve-static';
import { dirAndPort, exitOnSignals } from './lifecycle.js';

const { dir, port } = dirAndPort('serve-static.ts');

const app = express();
app.use(serveStatic(dir));
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`serve-static: listening on http://127.0.0.1:${port}`);
});

exitOnSignals(server);
