// express 5 + serve-static with their defaults. Usage: serve-static.ts DIR PORT
import express from 'express';
import serveStatic from 'serve-static';

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

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
